#include "lvlm_probe/threads.h"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace lvlm {

int usable_cores() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) return std::max(1, CPU_COUNT(&mask));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));  // > 1024 CPUs
}

int resolve_thread_count(int requested, int usable) { return requested > 0 ? requested : std::max(1, usable); }

std::vector<std::pair<std::string, std::string>> thread_runtime_environment(
    const std::function<const char*(const char*)>& lookup) {
  std::vector<std::pair<std::string, std::string>> set;
  if (!lookup("OMP_WAIT_POLICY") && !lookup("GOMP_SPINCOUNT")) set.emplace_back("OMP_WAIT_POLICY", "passive");
  if (!lookup("OPENBLAS_NUM_THREADS")) set.emplace_back("OPENBLAS_NUM_THREADS", "1");
  return set;
}

}  // namespace lvlm
