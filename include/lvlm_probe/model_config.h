// What every model family shares about a checkpoint: the limits config.json's sizes are held to,
// devices and dtypes, and what a loaded model tells about itself. Each family's own config.json
// types live in its folder (src/models/<family>/config.h). Torch-free.
#pragma once

#include <string>
#include <vector>

#include "lvlm_probe/json.h"

namespace lvlm {

// Upper bounds of config.json's sizes (and make-model's flags), far above any released model
// (LLaMA-3 405B: 126 layers, hidden 16384, vocab 128256) but low enough that a hostile config.json
// cannot make the loader loop over two billion layers or size buffers by a two-billion hidden size
// before the weights are checked against it.
constexpr int kMaxLayers = 1024, kMaxHeads = 1024, kMaxHidden = 65536, kMaxIntermediate = 1 << 20,
              kMaxVocab = 1 << 22, kMaxPositions = 1 << 24, kMaxImageSize = 16384;

// --- Devices and dtypes ----------------------------------------------------------------------
struct DeviceOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::string dtype = "auto";   // auto | f32 | bf16 | f16 (auto: bf16 on CUDA, f32 on CPU)
  int threads = 0;              // CPU threads; 0 = every core of the affinity mask
  // bf16/f16 on the CPU: "exact" runs libtorch's own reduced-precision kernels, so the numbers are
  // those of transformers on the same libtorch; "fast" multiplies in float32 and rounds once (as
  // cuBLAS accumulates on a GPU), some 30 times faster on libtorch 1.13, whose CPU bf16 products
  // are a scalar loop, but not bit-equal to transformers on the CPU.
  std::string reduced_math = "exact";  // exact | fast
};

struct ModelInfo {
  std::string family;         // ModelFamily::name(): "llava"
  std::string architecture;   // config.json architectures[0]
  std::string path;
  int num_layers = 0;         // L, decoder blocks
  int hidden_size = 0;
  int vocab_size = 0;
  int max_positions = 0;
  int image_token_index = -1;
  int num_image_features = 0;  // image tokens per image when fixed; 0 when they depend on the image
  int image_size = 0;         // square pixel input height = width when fixed; 0 otherwise
  std::vector<int> eos_token_ids;
  std::string weights_dtype;  // on disk, e.g. "F32" or "BF16" (mixed: "F32+BF16")
  std::string compute_dtype;  // "f32" | "bf16" | "f16"
  std::string device;         // "cpu", "cuda:0"
  // Checkpoint tensors (names, * for a prefix) that make each residual stream, for messages:
  // [0] the embeddings (token table, image features), [l] block l-1; and the lens' head.
  std::vector<std::string> layer_weights;
  std::string head_weights;   // final norm and LM head
};

// `inspect`'s answer (ModelFamily::describe, include/lvlm_probe/family.h).
struct ModelDescription {
  OrderedJson json;
  std::string text;  // the same as an aligned table for people
};

// `architectures[0]` of a parsed config.json, or "" when absent or not a string.
std::string architecture_of(const Json& config);
// The same read from <model_dir>/config.json. Used by the family registry.
std::string read_architecture(const std::string& model_dir);

}  // namespace lvlm
