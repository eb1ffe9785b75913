#include "lvlm_probe/memory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../test_util.h"

namespace lvlm {
namespace {

constexpr uint64_t GiB = 1ull << 30, MiB = 1ull << 20;

// A made-up /proc and cgroup tree under a temp dir, as memory_room(root) reads it.
class FakeSystem {
 public:
  FakeSystem(uint64_t available_kb, uint64_t swap_free_kb) {
    write("proc/meminfo", "MemTotal:       24683772 kB\nMemFree:         1000 kB\nMemAvailable:   " +
                              std::to_string(available_kb) + " kB\nSwapTotal:      0 kB\nSwapFree:       " +
                              std::to_string(swap_free_kb) + " kB\n");
  }
  void write(const std::string& rel, const std::string& text) {
    const std::string path = dir_.file(rel);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
  }
  // A cgroup v1 machine: memory controller at /sys/fs/cgroup/memory, the process in `group`.
  void v1(const std::string& group, const std::string& mount_root = "/") {
    write("proc/self/cgroup", "12:pids:/\n4:memory:" + group + "\n1:name=systemd:/\n0::/\n");
    write("proc/self/mountinfo",
          "25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
          "35 26 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
          "36 26 0:31 " + mount_root + " /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
          "40 26 0:35 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
  }
  void v1_group(const std::string& dir, const std::string& limit, uint64_t rss, uint64_t shmem, uint64_t cache) {
    write("sys/fs/cgroup/memory" + dir + "/memory.limit_in_bytes", limit + "\n");
    write("sys/fs/cgroup/memory" + dir + "/memory.stat",
          "cache " + std::to_string(cache) + "\nrss 1\nshmem 0\ntotal_cache " + std::to_string(cache) +
              "\ntotal_rss " + std::to_string(rss) + "\ntotal_rss_huge 0\ntotal_shmem " + std::to_string(shmem) + "\n");
  }
  // A cgroup v2 machine with the process in `group`.
  void v2(const std::string& group) {
    write("proc/self/cgroup", "0::" + group + "\n");
    write("proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
  }
  void v2_group(const std::string& dir, const std::string& max, uint64_t anon, uint64_t file) {
    write("sys/fs/cgroup" + dir + "/memory.max", max + "\n");
    write("sys/fs/cgroup" + dir + "/memory.stat", "anon " + std::to_string(anon) + "\nfile " + std::to_string(file) +
                                                     "\nkernel 4096\nshmem 0\nanon_thp 0\n");
  }
  std::optional<MemoryRoom> room() const { return memory_room(dir_.path()); }
  void expect_room(uint64_t bytes, const std::string& source) const {
    const auto r = room();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bytes, bytes);
    EXPECT_EQ(r->source, source);
  }

 private:
  test::TempDir dir_;
};

TEST(MemoryRoom, WithoutCgroupsIsMemAvailablePlusFreeSwap) {
  FakeSystem s(20 * 1024 * 1024, 2 * 1024 * 1024);  // kB
  s.expect_room(22 * GiB, "MemAvailable + SwapFree");
}

TEST(MemoryRoom, NoMeminfoMeansUnknown) {
  test::TempDir empty;
  EXPECT_FALSE(memory_room(empty.path()));
}

TEST(MemoryRoom, CgroupV1LimitLessAnonymousMemoryNotPageCache) {
  FakeSystem s(20 * 1024 * 1024, 0);
  s.v1("/slurm/uid_0/job_7/step_0");
  s.v1_group("", "9223372036854771712", 3 * GiB, 0, 5 * GiB);  // the root: no limit
  s.v1_group("/slurm/uid_0/job_7/step_0", std::to_string(16 * GiB), GiB, 512 * MiB, 12 * GiB);
  // 16 GiB less 1 GiB anonymous and 0.5 GiB shared; the 12 GiB of page cache are reclaimable.
  s.expect_room(16 * GiB - GiB - 512 * MiB, "memory cgroup /slurm/uid_0/job_7/step_0, limit 16.00 GiB");
}

// Slurm puts the job's limit on the job and runs each step in a group below it.
TEST(MemoryRoom, AnAncestorsLimitCountsWithEverythingBelowIt) {
  FakeSystem s(20 * 1024 * 1024, 0);
  s.v1("/slurm/job_7/step_1");
  s.v1_group("/slurm/job_7", std::to_string(8 * GiB), 6 * GiB, 0, 0);  // another step holds 5 GiB of it
  s.v1_group("/slurm/job_7/step_1", "9223372036854771712", GiB, 0, 0);
  s.expect_room(2 * GiB, "memory cgroup /slurm/job_7, limit 8.00 GiB");
}

TEST(MemoryRoom, TheMachineWinsWhenItHasLessThanTheCgroup) {
  FakeSystem s(4 * 1024 * 1024, 0);
  s.v1("/job");
  s.v1_group("/job", std::to_string(16 * GiB), GiB, 0, 0);
  s.expect_room(4 * GiB, "MemAvailable + SwapFree");
}

// In a container the mount shows only the container's part of the tree: /proc/self/cgroup says
// /docker/abc and the mount's root is /docker/abc, so the group is the mount point itself.
TEST(MemoryRoom, AContainersMountRootIsStrippedFromItsPath) {
  FakeSystem s(20 * 1024 * 1024, 0);
  s.v1("/docker/abc", "/docker/abc");
  s.v1_group("", std::to_string(2 * GiB), 256 * MiB, 0, 0);
  s.expect_room(2 * GiB - 256 * MiB, "memory cgroup /, limit 2.00 GiB");
}

TEST(MemoryRoom, CgroupV2MaxWalkedUpToTheMount) {
  FakeSystem s(20 * 1024 * 1024, 0);
  s.v2("/user.slice/job/leaf");
  s.v2_group("/user.slice", "max", 2 * GiB, 8 * GiB);
  s.v2_group("/user.slice/job", std::to_string(12 * GiB), 3 * GiB, 9 * GiB);
  s.v2_group("/user.slice/job/leaf", "max", GiB, 0);
  s.expect_room(9 * GiB, "memory cgroup /user.slice/job, limit 12.00 GiB");
}

TEST(MemoryRoom, AGroupOverItsLimitLeavesNoRoom) {
  FakeSystem s(20 * 1024 * 1024, 0);
  s.v2("/a");
  s.v2_group("/a", std::to_string(GiB), 2 * GiB, 0);
  EXPECT_EQ(s.room()->bytes, 0u);
}

TEST(MemoryRoom, UnreadableOrOddCgroupFilesFallBackToTheMachine) {
  FakeSystem s(10 * 1024 * 1024, 0);
  s.v2("/a");
  s.write("sys/fs/cgroup/a/memory.max", "garbage\n");
  s.write("sys/fs/cgroup/a/memory.stat", "anon x\n");
  EXPECT_EQ(s.room()->bytes, 10 * GiB);
  s.write("proc/self/mountinfo", "not a mountinfo line\n\n - \n");
  EXPECT_EQ(s.room()->bytes, 10 * GiB);
}

TEST(MemoryRoom, ThisMachineHasSome) {
  auto r = memory_room();
  ASSERT_TRUE(r);  // Linux has /proc/meminfo
  EXPECT_GT(r->bytes, 0u);
}

TEST(SizeText, GiBFromOneGiBOn) {
  EXPECT_EQ(size_text(26 * GiB + 315 * MiB), "26.31 GiB");
  EXPECT_EQ(size_text(340 * MiB), "340.00 MiB");
}

}  // namespace
}  // namespace lvlm
