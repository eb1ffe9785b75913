#include "lvlm_probe/threads.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <map>
#include <thread>

namespace lvlm {
namespace {

TEST(Threads, DefaultIsEveryUsableCoreAndAnExplicitCountWins) {
  EXPECT_EQ(resolve_thread_count(0, 6), 6);
  EXPECT_EQ(resolve_thread_count(0, 1), 1);
  EXPECT_EQ(resolve_thread_count(0, 0), 1);  // never zero threads
  EXPECT_EQ(resolve_thread_count(1, 6), 1);
  EXPECT_EQ(resolve_thread_count(12, 6), 12);  // asked for: oversubscribing is the user's call
}

// The affinity mask, not the machine: a thread pinned to one CPU (as taskset or Slurm would) sees 1.
TEST(Threads, UsableCoresFollowTheAffinityMask) {
  cpu_set_t all;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  EXPECT_EQ(usable_cores(), CPU_COUNT(&all));
  int first = 0;
  while (!CPU_ISSET(first, &all)) ++first;
  int seen = 0;
  std::thread pinned([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) == 0) seen = usable_cores();
  });
  pinned.join();
  EXPECT_EQ(seen, 1);
}

TEST(Threads, RuntimeEnvironmentLeavesTheUsersChoicesAlone) {
  using Env = std::map<std::string, std::string>;
  auto environment_for = [](const Env& env) {
    auto lookup = [&env](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    };
    Env out;
    for (const auto& [name, value] : runtime_environment(lookup)) out[name] = value;
    return out;
  };
  const Env malloc_settings = {{"MALLOC_MMAP_THRESHOLD_", "33554432"},
                               {"MALLOC_TRIM_THRESHOLD_", "1073741824"},
                               {"MALLOC_TOP_PAD_", "268435456"}};
  auto with_malloc = [&](Env env) {
    env.insert(malloc_settings.begin(), malloc_settings.end());
    return env;
  };
  EXPECT_EQ(environment_for({}), with_malloc({{"GOMP_SPINCOUNT", "3000"}, {"OPENBLAS_NUM_THREADS", "1"}}));
  EXPECT_EQ(environment_for({{"OMP_WAIT_POLICY", "active"}}), with_malloc({{"OPENBLAS_NUM_THREADS", "1"}}));
  EXPECT_EQ(environment_for({{"GOMP_SPINCOUNT", "10000"}}), with_malloc({{"OPENBLAS_NUM_THREADS", "1"}}));
  EXPECT_EQ(environment_for({{"OPENBLAS_NUM_THREADS", "4"}, {"OMP_WAIT_POLICY", "passive"}}), malloc_settings);
  // One malloc variable or tunable chosen by the user: none of ours, since ours would override the
  // adaptive behaviour the user kept for the others.
  const Env threads_only = {{"GOMP_SPINCOUNT", "3000"}, {"OPENBLAS_NUM_THREADS", "1"}};
  EXPECT_EQ(environment_for({{"MALLOC_TOP_PAD_", "0"}}), threads_only);
  EXPECT_EQ(environment_for({{"MALLOC_MMAP_MAX_", "0"}}), threads_only);
  EXPECT_EQ(environment_for({{"GLIBC_TUNABLES", "glibc.malloc.hugetlb=1"}}), threads_only);
  EXPECT_EQ(environment_for({{"GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F"}}), with_malloc(threads_only));
}

}  // namespace
}  // namespace lvlm
