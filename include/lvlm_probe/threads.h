// How many threads lvlm-probe uses, and the environment the OpenMP, OpenBLAS and malloc runtimes
// must find when they load (docs/performance.md, "Threads" and "Memory allocation"). Torch-free:
// the launcher, the batch tools and make-model use it as well as the model.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lvlm {

// CPUs this process may run on: its affinity mask (sched_getaffinity), which Slurm, taskset,
// numactl and container cpusets restrict, not the machine's core count. At least 1.
int usable_cores();

// The thread count for `--threads requested`: requested when positive, else every usable core.
int resolve_thread_count(int requested, int usable);

// Variables to set before the OpenMP, OpenBLAS and glibc malloc runtimes load (they read them only
// then):
//  - GOMP_SPINCOUNT=3000: a thread that ends its share of a parallel loop spins a few thousand
//    rounds (microseconds to a tenth of a millisecond, by CPU) before it sleeps, instead of
//    libgomp's 300,000; long spinning threads take the core from the one still working whenever
//    another process holds a core (a two-thread run then took 5-14 times as long as one thread),
//    while sleeping at once makes every one of a decoding step's hundreds of loops wake its threads;
//  - OPENBLAS_NUM_THREADS=1: OpenBLAS runs inside ATen's threads, so its own pool is never
//    started;
//  - MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_: activations of up to 32 MiB
//    (glibc's largest threshold) are reused from the heap instead of mapped and unmapped by every
//    operation, each time faulting in fresh zeroed pages.
// A variable the user has set is left alone (GOMP_SPINCOUNT counts as choosing a wait policy; any
// MALLOC_*_ variable or a glibc.malloc tunable in GLIBC_TUNABLES as choosing malloc's settings).
// `lookup` is getenv or a stand-in.
std::vector<std::pair<std::string, std::string>> runtime_environment(
    const std::function<const char*(const char*)>& lookup);
// Sets runtime_environment(getenv) in this process's environment, for a program it then executes.
void set_runtime_environment();

}  // namespace lvlm
