// Typed model configuration read from a Hugging Face checkpoint's config.json, with the defaults
// transformers fills in for omitted keys (config.json stores only non-default values).
// Torch-free: the config parser is fuzzed and used by `inspect`.
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

// transformers LlamaConfig (4.40) and the keys LLaVA's language models use.
struct TextConfig {
  std::string model_type = "llama";
  int vocab_size = 32000;
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 32;  // defaults to num_attention_heads
  int head_dim = 128;            // hidden_size / num_attention_heads unless given
  int max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  double rope_linear_factor = 1.0;  // rope_scaling {"type": "linear", "factor": f}; others unsupported
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  std::string hidden_act = "silu";
  int bos_token_id = 1;
  int eos_token_id = 2;
};

// transformers CLIPVisionConfig.
struct VisionConfig {
  std::string model_type = "clip_vision_model";
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 32;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";

  int num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

// transformers LlavaConfig.
struct LlavaConfig {
  std::string path;  // the config.json it came from, for messages
  std::string architecture = "LlavaForConditionalGeneration";
  TextConfig text;
  VisionConfig vision;
  int image_token_index = 32000;
  int vision_feature_layer = -2;
  std::string vision_feature_select_strategy = "default";  // "default" drops CLS, "full" keeps it
  std::string projector_hidden_act = "gelu";
  bool projector_bias = true;
  std::vector<int> eos_token_ids;  // generation_config.json's, else text.eos_token_id

  // Image features spliced into the sequence per image.
  int num_image_features() const {
    return vision.num_patches() + (vision_feature_select_strategy == "full" ? 1 : 0);
  }
  // Index into CLIP's hidden_states tuple (embeddings + one entry per layer).
  int vision_hidden_state_index() const;
};

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
  std::string family;         // "llava"
  std::string architecture;   // config.json architectures[0]
  std::string path;
  int num_layers = 0;         // L, decoder blocks
  int hidden_size = 0;
  int vocab_size = 0;
  int max_positions = 0;
  int image_token_index = -1;
  int num_image_features = 0;
  int image_size = 0;         // pixel input height = width
  std::vector<int> eos_token_ids;
  std::string weights_dtype;  // on disk, e.g. "F32" or "BF16" (mixed: "F32+BF16")
  std::string compute_dtype;  // "f32" | "bf16" | "f16"
  std::string device;         // "cpu", "cuda:0"
  // Checkpoint tensors (names, * for a prefix) that make each residual stream, for messages:
  // [0] the embeddings (token table, image features), [l] block l-1; and the lens' head.
  std::vector<std::string> layer_weights;
  std::string head_weights;   // final norm and LM head
};

// Reads <model_dir>/config.json (and generation_config.json when present). InputError naming the
// file and key for malformed, inconsistent or unsupported configurations.
LlavaConfig load_llava_config(const std::string& model_dir);
LlavaConfig parse_llava_config(const std::string& json_text, const std::string& origin);

// `inspect`: geometry, dtypes on disk, parameter count and the memory a probe needs, read from
// config.json and the safetensors headers without loading any weight.
struct ModelDescription {
  OrderedJson json;
  std::string text;  // the same as an aligned table for people
};
ModelDescription describe_model(const std::string& model_dir);

// `architectures[0]` of config.json, or "" when absent. Used by the model registry.
std::string read_architecture(const std::string& model_dir);

}  // namespace lvlm
