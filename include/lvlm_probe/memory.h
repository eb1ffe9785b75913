// How much memory this process may still take, read before a model is loaded so that a run that
// cannot fit stops with a message instead of being killed by the kernel minutes later. Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace lvlm {

struct MemoryRoom {
  uint64_t bytes = 0;
  std::string source;  // what sets it, for messages: "MemAvailable + SwapFree", "memory cgroup /job_7, limit 16.00 GiB"
};

// The least of the machine's MemAvailable + SwapFree (/proc/meminfo) and, for the memory cgroup this
// process runs in and each of its ancestors (Slurm jobs, containers; cgroup v1 and v2), its limit
// less the memory its processes hold that the kernel cannot reclaim (anonymous and shared memory;
// the page cache, model files included, is reclaimable and not counted). nullopt when /proc/meminfo
// cannot be read. `root` prefixes every path read (tests point it at a made-up tree).
std::optional<MemoryRoom> memory_room(const std::string& root = "");

// Bytes in GiB from 1 GiB on, else MiB (tiny test models would read "0.00 GiB").
std::string size_text(uint64_t bytes);

}  // namespace lvlm
