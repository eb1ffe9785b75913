// Performance tooling (docs/performance.md): random-weight LLaVA-1.5-shaped checkpoints for benchmarks and
// tests (`make-model`), and the runner behind `bench`, which times plain greedy generation against
// the full probe on the same input. Torch-free interface; make_model is torch-free code, the
// bench runner links libtorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lvlm_probe/json.h"
#include "lvlm_probe/model_config.h"
#include "lvlm_probe/probe.h"

namespace lvlm {

// --- make-model ------------------------------------------------------------------------------
// Geometry fields left at 0 take the preset's value.
struct MakeModelOptions {
  std::string out_dir;
  std::string preset = "tiny";  // tiny | bench | llava-1.5-7b-shape
  int layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, vocab = 0, max_positions = 0;
  int vision_layers = 0, vision_hidden = 0, vision_intermediate = 0, vision_heads = 0;
  int image_size = 0, patch_size = 0;
  bool tie_embeddings = false;
  std::string dtype;            // f32 | bf16 | f16; "" = the preset's (bf16 for the 7B shape, else f32)
  uint64_t seed = 0;
  double init_std = 0.02;       // N(0, std) for matrices and embeddings; norms 1, biases 0
  uint64_t max_shard_bytes = 0;  // 0 = half the model, at most 2 GiB per shard
  std::string tokenizer;        // a tokenizer.model to copy, with the tokenizer JSON files beside it
  bool force = false;           // write into a directory that already holds a checkpoint
  bool allow_large = false;     // write more than kMaxMakeModelBytes
};

// make-model refuses larger checkpoints unless allow_large is set (the 7B shape in bf16, 13 GiB,
// fits under it); any size must also fit in the file system's free space.
constexpr uint64_t kMaxMakeModelBytes = 16ull << 30;

struct MadeModel {
  LlavaConfig config;
  std::string dtype;                 // "F32", "BF16", "F16"
  uint64_t parameters = 0, bytes = 0;
  std::vector<std::string> files;    // written, relative to out_dir
};

const std::vector<std::string>& make_model_presets();

// Writes config.json, generation_config.json, preprocessor_config.json, the shards and
// model.safetensors.index.json into options.out_dir (created when missing), in transformers 4.40's
// LlavaForConditionalGeneration layout. Shards are streamed tensor by tensor, so memory stays at a
// few MB whatever the model's size; each file appears atomically. The same seed gives the same
// bytes. UsageError for bad geometry or an occupied directory.
MadeModel make_model(const MakeModelOptions& options);

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
std::string bench_table(const BenchResult& result);  // aligned text table plus overhead lines

}  // namespace lvlm
