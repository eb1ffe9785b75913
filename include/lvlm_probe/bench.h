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
  bool floor = false;              // also measure the machine's floors and each phase against them
};

// --floor: what this machine does with the libtorch in use, measured in a child process of its
// own at each thread count, right before that count's runs (docs/performance.md, "Floors").
struct MachineFloors {
  int threads = 0;
  double gemm_f32 = 0, gemm_bf16 = 0;  // FLOP/s: the best large square product (at::mm, or row blocks)
  double memory = 0;                   // bytes/s read: a sum over 1 GiB
  std::string load_average;            // /proc/loadavg when measured
};

// The work of each phase from the model's geometry, and the least time it can take: its products
// at the GEMM peak of the compute dtype or its weights (and cache) read at memory speed, whichever
// is longer.
struct PhaseWork {
  double flops = 0, bytes = 0;
};
struct ModelWork {
  PhaseWork vision, prefill, decode_step, lens_step;
};
struct LlavaConfig;  // src/models/llava/config.h
// `positions` of the prompt (image expanded), `new_tokens` decoded, `dtype_bytes` of the compute dtype.
ModelWork model_work(const LlavaConfig& config, int64_t positions, int new_tokens, int dtype_bytes);
double floor_seconds(const PhaseWork& work, const MachineFloors& floors, bool bf16);

struct PhaseFloor {
  std::string phase;               // vision | prefill | decode_step | lens_step
  double seconds = 0, floor = 0;   // measured (median) and least possible; ratio = seconds / floor
};
struct FloorReport {
  MachineFloors machine;
  std::vector<PhaseFloor> phases;
  double lens_share = 0;           // lens step / plain decoding step
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
  std::string load_average_end;    // and after them
  int usable_cores = 0;            // the affinity mask's (what threads 0 resolved to)
  int busy_cores = 0;
  std::vector<FloorReport> floors;  // with --floor, one per thread count
};

// Runs every (thread count, repeat, mode) in a child process of its own, so that each load is
// timed, peak RSS belongs to that run alone, and thread pools are sized before any is created.
// The calling process must not have used libtorch yet (fork would copy its thread pools' state).
BenchResult run_bench(const BenchOptions& options);

OrderedJson bench_json(const BenchResult& result);
// One timing's phases in seconds: {"load", "vision", "prefill", "decode", "lens", "total"}.
OrderedJson timing_json(const ProbeTiming& timing);
std::string bench_table(const BenchResult& result);  // aligned text table plus overhead lines

}  // namespace lvlm
