// One probe: image + prompt in, the generated answer and per-layer measurements of every
// generated token out. A ProbeSession loads the model once and probes any number of inputs
// (the batch command reuses it). Torch-free interface; the implementation links libtorch.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/model_config.h"
#include "lvlm_probe/processor.h"
#include "lvlm_probe/trace.h"

namespace lvlm {

struct ProbeRequest {
  std::string image;                  // path to the image file ("" only with --input-ids and no image token)
  std::string prompt;                 // the question, put into `template_name`
  std::vector<int> input_ids;         // explicit ids instead of a prompt (non-empty wins)
  std::string template_name;          // "" = the model family's default (LLaVA: llava_v1)
  bool pad_square = false;            // the original LLaVA repo's expand2square
  int max_new_tokens = 32;
  bool stop_at_eos = true;
  LensMode lens = LensMode::norm;
  Divergence divergence = Divergence::jsd;
  int top_k = 5;
  StageOptions stages;
  std::string stage_configs_dir;      // where --stages fixed looks for the model's file (configs/)
  std::vector<int> skip_layers;       // 1-based layers replaced by identity in a second run
  bool skip_stabilization = false;    // skip (c, m) found on the full run
  std::string dump_features;          // safetensors path for the hidden-state vectors, "" = none
  std::vector<int> dump_steps;        // with dump_features: only these generated steps; empty = all
  bool dump_f16 = false;              // with dump_features: float16 (float32 for a step f16 cannot hold)
  bool prompt_positions = false;      // --positions all: also measure every prompt position
  bool image_positions = false;       // --positions image (and all): the lens at every image position
  bool attention = false;             // --attention (and --positions all): attention shares per token
};

// The --positions value a request stands for: "all", "image" or "last".
inline const char* positions_name(const ProbeRequest& r) {
  return r.prompt_positions ? "all" : r.image_positions ? "image" : "last";
}

// --positions image: the lens at the image features' positions of the prefill, and where each of
// them lies in the image (report section image_positions, docs/report-schema.md).
struct ImageLens {
  int grid_rows = 0, grid_cols = 0;   // the patch grid, row-major over the vision tower's input
  bool cls_first = false;             // the first position is CLIP's CLS (strategy `full`)
  int input_width = 0, input_height = 0;        // what the vision tower sees (after pad, resize, crop)
  int original_width = 0, original_height = 0;  // the decoded image
  // Per position: {left, top, right, bottom} in input and in original pixels (the CLS: the whole image).
  std::vector<std::array<double, 4>> input_boxes, original_boxes;
  std::vector<TokenTrace> positions;  // per image position (step -1, no token): entropy and top-k
  std::string image_data_uri;         // the original image (shrunk for the page), a data URI
};

// A second, skipped run compared with the full one (the paper's Section 4.2).
struct SkipComparison {
  std::string mode;                   // "layers" (--skip-layers) | "stabilization"
  std::vector<int> layers;            // skipped layers, 1-based
  std::vector<int> token_ids;
  std::string text, stop_reason;
  int matching_prefix = 0;            // leading tokens equal to the full run's
  double position_agreement = 0;      // equal tokens at equal steps / longer length
  double token_overlap = 0;           // bag-of-tokens F1 between the two outputs
  bool identical = false;
  std::string note;                   // why nothing was skipped ("" when layers were)
};

// What made the numbers, for reproducing them (report key `provenance`). Plain strings; "" when
// unknown.
struct Provenance {
  std::string created;                // UTC, ISO 8601: 2026-12-06T15:30:12Z
  std::string libtorch;               // version, e.g. "1.13.0"
  std::string blas;                   // libtorch's BLAS_INFO, e.g. "open", "mkl"
  std::string onednn;                 // oneDNN (MKL-DNN) build line, "" without
  std::string cpu, cpu_isa;           // model name; ISA flags that change reduced-precision results
  std::string device;                 // where the model ran
  std::string config_sha256;          // of config.json
  std::string weights_header_sha256;  // of the safetensors headers (names, dtypes, shapes, offsets)
};

struct ProbeTiming {
  double load = 0, vision = 0, prefill = 0, decode = 0, lens = 0, total = 0;  // seconds
};

struct ProbeResult {
  ModelInfo model;
  ProbeRequest request;
  std::string image_sha256;           // of the image file's bytes
  ImageGeometry image_geometry;       // where each image position sits in the image (empty without one)
  std::string prompt_text;            // after the template ("" with --input-ids)
  std::vector<int> prompt_ids;
  std::vector<int64_t> image_positions;
  int64_t sequence_length = 0;        // positions after image expansion
  std::vector<int> token_ids;
  std::string text;
  std::string stop_reason;
  std::vector<TokenTrace> tokens;
  std::vector<TokenTrace> prompt_positions;        // with request.prompt_positions: one per position, step -1
  std::optional<ImageLens> image_lens;             // with request.image_positions and an image
  std::vector<std::string> token_texts;             // per generated token
  std::vector<std::pair<int, std::string>> pieces;  // text of every id in any top-k list
  StageResult stages;
  std::optional<SkipComparison> skip;
  ProbeTiming timing;
  DeviceOptions device;               // as asked (dtype, threads, reduced_math)
  Provenance provenance;
};

struct SessionOptions {
  std::string model_dir;
  DeviceOptions device;
};

class ProbeSession {
 public:
  explicit ProbeSession(const SessionOptions& options);  // loads model, tokenizer, preprocessor
  ~ProbeSession();
  ProbeSession(const ProbeSession&) = delete;
  ProbeSession& operator=(const ProbeSession&) = delete;

  const ModelInfo& model() const;
  // Refuses what in `request` no image or prompt can make valid for this model: the template, a
  // missing tokenizer, top-k, the number of new tokens, skipped layers, the stage method's layers
  // (the errors run() would throw for every input). A batch calls it once before any item, so
  // an item's own failure is never one of these.
  void check(const ProbeRequest& request) const;
  // The template the request's prompt goes through: its own, or the model family's default.
  std::string template_for(const ProbeRequest& request) const;
  ProbeResult run(const ProbeRequest& request);
  // Greedy generation alone on the same input, no lens: the baseline `bench` compares run() with.
  // Fills the input fields, token_ids, text, stop_reason and timing; tokens and stages stay empty.
  ProbeResult generate(const ProbeRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// UsageError for requests no model of `num_layers` layers can run: --skip-layers outside 1..L,
// or together with --skip stabilization. ProbeSession::run calls it before any work.
void check_request(const ProbeRequest& request, int num_layers);

// Compares a skipped run's tokens with the full run's.
SkipComparison compare_outputs(const std::vector<int>& full, const std::vector<int>& skipped);

}  // namespace lvlm
