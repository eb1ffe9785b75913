// Performance tooling (docs/performance.md): the runner behind `bench`, which times plain greedy
// generation against the full probe on the same input. Torch-free interface; the runner links
// libtorch. The checkpoints it runs on come from make-model (include/lvlm_probe/make_model.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lvlm_probe/json.h"
#include "lvlm_probe/model_config.h"
#include "lvlm_probe/probe.h"

namespace lvlm {

// --- bench -----------------------------------------------------------------------------------
struct BenchOptions {
  SessionOptions session;          // model directory and device; threads set per entry of `threads`
  ProbeRequest request;            // the probe's settings; EOS is ignored (exactly max_new_tokens)
  int repeat = 3;
  std::vector<int> threads = {1, 0};  // 0 = the default count: every core of the affinity mask
  int busy_cores = 0;              // processes spinning for the whole benchmark (a shared machine)
};

// Medians over the repeats of one mode at one thread count.
struct BenchRun {
  std::string mode;                // "plain" (greedy generation only) | "probe" (the full probe)
  int threads = 0;
  ProbeTiming timing;              // total = wall clock from loading to the finished result
  double tokens_per_second = 0;    // new tokens / (prefill + decode)
  double decode_tokens_per_second = 0;  // (new tokens - 1) / decode: one forward pass each
  uint64_t peak_rss_bytes = 0;     // of the process that ran it (each repeat is a fresh process)
  int new_tokens = 0;
  int64_t sequence_length = 0;
  std::vector<int> token_ids;      // of the first repeat
  std::vector<ProbeTiming> samples;
};

struct BenchResult {
  ModelInfo model;
  uint64_t weights_bytes = 0;      // safetensors data on disk
  int repeat = 0, max_new_tokens = 0;
  std::vector<BenchRun> runs;      // plain and probe for each thread count
  std::string load_average;        // /proc/loadavg before the runs: other work skews timings
  int usable_cores = 0;            // the affinity mask's (what threads 0 resolved to)
  int busy_cores = 0;
};

// Runs every (thread count, repeat, mode) in a child process of its own, so that each load is
// timed, peak RSS belongs to that run alone, and thread pools are sized before any is created.
// The calling process must not have used libtorch yet (fork would copy its thread pools' state).
BenchResult run_bench(const BenchOptions& options);

OrderedJson bench_json(const BenchResult& result);
std::string bench_table(const BenchResult& result);  // aligned text table plus overhead lines

}  // namespace lvlm
