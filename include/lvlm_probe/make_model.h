// `make-model`: random-weight checkpoints of any family's shape for benchmarks and tests.
// Torch-free: the family plans the tensors and files (include/lvlm_probe/family.h), the
// checkpoint module writes them (write_random_checkpoint, include/lvlm_probe/checkpoint.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lvlm_probe/checkpoint.h"

namespace lvlm {

// Geometry fields left at 0 take the preset's value.
struct MakeModelOptions {
  std::string out_dir;
  std::string preset = "tiny";  // one of make_model_presets(): tiny | bench | llava-1.5-7b-shape for LLaVA
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
  std::string family;                // the family owning the preset
  std::string summary;               // its geometry in a line (CheckpointPlan::summary)
  std::string dtype;                 // "F32", "BF16", "F16"
  uint64_t parameters = 0, bytes = 0;
  std::vector<std::string> files;    // written, relative to out_dir
};

// Every family's presets, in registry order.
const std::vector<std::string>& make_model_presets();

// Writes the checkpoint the preset's family plans (ModelFamily::plan_checkpoint): config.json and
// its companions, the shards and model.safetensors.index.json, into options.out_dir (created when
// missing); for LLaVA in transformers 4.40's LlavaForConditionalGeneration layout. Shards are
// streamed tensor by tensor, so memory stays at a few MB whatever the model's size; each file
// appears atomically. The same seed gives the same bytes. UsageError for bad geometry or an
// occupied directory.
MadeModel make_model(const MakeModelOptions& options);

// For families' plans: the stored dtype options.dtype names, else the preset's default.
// UsageError for a name not f32, bf16, f16.
DType make_model_dtype(const MakeModelOptions& options, DType preset_default);
const char* torch_dtype_name(DType dtype);  // config.json's torch_dtype: "float32", "bfloat16", "float16"

}  // namespace lvlm
