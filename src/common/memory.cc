#include "lvlm_probe/memory.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

namespace lvlm {
namespace {

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

std::optional<std::string> read_small(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<uint64_t> parse_u64(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (i == text.size() || text[i] < '0' || text[i] > '9') return std::nullopt;
  uint64_t v = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (v > (kUnlimited - digit) / 10) return kUnlimited;
    v = v * 10 + digit;
  }
  return v;
}

// "key value[ kB]" lines (meminfo, memory.stat): the value of `key`, in bytes when given in kB.
std::optional<uint64_t> field(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, key.size(), key) != 0 || line.size() == key.size()) continue;
    const char next = line[key.size()];
    if (next != ' ' && next != ':' && next != '\t') continue;
    auto v = parse_u64(line.substr(key.size() + (next == ':' ? 1 : 0)));
    if (v && line.find(" kB") != std::string::npos) *v = *v > kUnlimited / 1024 ? kUnlimited : *v * 1024;
    return v;
  }
  return std::nullopt;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

bool has_item(const std::string& list, const std::string& item) {
  for (const auto& x : split(list, ','))
    if (x == item) return true;
  return false;
}

struct Hierarchy {
  bool v2 = false;
  std::string mount;  // where the hierarchy is mounted, e.g. /sys/fs/cgroup/memory
  std::string own;    // this process's directory in it
};

// The memory hierarchy (v1's memory controller, else the v2 tree) from /proc/self/mountinfo and
// /proc/self/cgroup. A mount's root is the part of the cgroup path it hides (cgroup namespaces,
// containers), so the process's directory is the mount point plus the rest of its path.
std::optional<Hierarchy> memory_hierarchy(const std::string& root) {
  auto mountinfo = read_small(root + "/proc/self/mountinfo");
  auto cgroup = read_small(root + "/proc/self/cgroup");
  if (!mountinfo || !cgroup) return std::nullopt;
  std::string v1_path, v2_path;
  bool v1_found = false, v2_found = false;
  for (const auto& line : split(*cgroup, '\n')) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2_path = path, v2_found = true;
    if (has_item(controllers, "memory")) v1_path = path, v1_found = true;
  }
  std::optional<Hierarchy> v2;
  for (const auto& line : split(*mountinfo, '\n')) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const std::vector<std::string> left = split(line.substr(0, dash), ' '), right = split(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    const std::string& mount_root = left[3];
    const std::string& point = left[4];
    const bool is_v1_memory = right[0] == "cgroup" && v1_found && has_item(right[2], "memory");
    const bool is_v2 = right[0] == "cgroup2" && v2_found;
    if (!is_v1_memory && !is_v2) continue;
    const std::string& path = is_v1_memory ? v1_path : v2_path;
    std::string rest = path;
    if (mount_root != "/" && path.compare(0, mount_root.size(), mount_root) == 0) rest = path.substr(mount_root.size());
    else if (mount_root != "/") rest = "";  // the process sits outside what the mount shows
    Hierarchy h{is_v2, root + point, root + point + (rest == "/" ? "" : rest)};
    if (is_v1_memory) return h;  // the memory controller lives here, not in a v2 tree beside it
    v2 = h;
  }
  return v2;
}

// Limit less unreclaimable use for one cgroup directory; nullopt when it has no limit.
std::optional<uint64_t> cgroup_room(const Hierarchy& h, const std::string& dir, uint64_t* limit_out) {
  auto limit_text = read_small(dir + (h.v2 ? "/memory.max" : "/memory.limit_in_bytes"));
  auto stat = read_small(dir + "/memory.stat");
  if (!limit_text || !stat) return std::nullopt;
  auto limit = parse_u64(*limit_text);  // v2 writes "max" for none: no number
  // v1 writes a huge page-rounded number for none.
  if (!limit || *limit >= (uint64_t{1} << 62)) return std::nullopt;
  const auto anon = field(*stat, h.v2 ? "anon" : "total_rss"), shmem = field(*stat, h.v2 ? "shmem" : "total_shmem");
  const uint64_t used = anon.value_or(0) + shmem.value_or(0);
  *limit_out = *limit;
  return *limit > used ? *limit - used : 0;
}

}  // namespace

std::string size_text(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  else std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1ull << 20));
  return buf;
}

std::optional<MemoryRoom> memory_room(const std::string& root) {
  auto meminfo = read_small(root + "/proc/meminfo");
  if (!meminfo) return std::nullopt;
  auto available = field(*meminfo, "MemAvailable");
  if (!available) available = field(*meminfo, "MemFree");  // kernels before 3.14
  if (!available) return std::nullopt;
  MemoryRoom room{*available + field(*meminfo, "SwapFree").value_or(0), "MemAvailable + SwapFree"};
  auto h = memory_hierarchy(root);
  if (!h) return room;
  // The process's own group and every ancestor up to the mount: a Slurm job's limit sits above its steps.
  for (std::string dir = h->own;; dir = dir.substr(0, dir.rfind('/'))) {
    uint64_t limit = 0;
    if (auto r = cgroup_room(*h, dir, &limit); r && *r < room.bytes) {
      const std::string name = dir.size() > h->mount.size() ? dir.substr(h->mount.size()) : "/";
      room = {*r, "memory cgroup " + name + ", limit " + size_text(limit)};
    }
    if (dir.size() <= h->mount.size() || dir.rfind('/') == std::string::npos) break;
  }
  return room;
}

}  // namespace lvlm
