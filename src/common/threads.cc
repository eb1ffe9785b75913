#include "lvlm_probe/threads.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace lvlm {

int usable_cores() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) return std::max(1, CPU_COUNT(&mask));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));  // > 1024 CPUs
}

int resolve_thread_count(int requested, int usable) { return requested > 0 ? requested : std::max(1, usable); }

std::vector<std::pair<std::string, std::string>> runtime_environment(
    const std::function<const char*(const char*)>& lookup) {
  std::vector<std::pair<std::string, std::string>> set;
  if (!lookup("OMP_WAIT_POLICY") && !lookup("GOMP_SPINCOUNT")) set.emplace_back("GOMP_SPINCOUNT", "3000");
  if (!lookup("OPENBLAS_NUM_THREADS")) set.emplace_back("OPENBLAS_NUM_THREADS", "1");

  // glibc's malloc settings go together: setting any one of them also turns off its adaptive
  // threshold, so a user who chose one gets none of ours.
  static const char* const kMalloc[] = {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                                        "MALLOC_MMAP_MAX_"};
  bool chosen = false;
  for (const char* name : kMalloc) chosen = chosen || lookup(name);
  const char* tunables = lookup("GLIBC_TUNABLES");
  chosen = chosen || (tunables && std::strstr(tunables, "glibc.malloc."));
  if (!chosen) {
    set.emplace_back("MALLOC_MMAP_THRESHOLD_", "33554432");   // 32 MiB, the largest glibc accepts
    set.emplace_back("MALLOC_TRIM_THRESHOLD_", "1073741824");  // keep up to 1 GiB of freed heap
    set.emplace_back("MALLOC_TOP_PAD_", "268435456");          // grow the heap 256 MiB at a time
  }
  return set;
}

void set_runtime_environment() {
  for (const auto& [name, value] : runtime_environment(std::getenv)) ::setenv(name.c_str(), value.c_str(), 1);
}

}  // namespace lvlm
