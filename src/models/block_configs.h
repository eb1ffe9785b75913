// Configurations of the shared building blocks (src/models/): what transformers' config classes
// say about a decoder and a CLIP vision tower, with their defaults. Torch-free: families' config
// parsers fill them (src/models/llava/config.cc) and `inspect` reads them.
#pragma once

#include <string>

#include "lvlm_probe/model_config.h"

namespace lvlm {

// The decoder's geometry (decoder.h): transformers LlamaConfig (4.40) with the keys LLaVA's
// language models use; a family with another config class (Qwen2Config) fills the same fields.
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
  bool attention_bias = false;  // biases on q, k, v and o (LlamaConfig attention_bias)
  bool qkv_bias = false;        // biases on q, k and v only (Qwen2's attention)
  bool mlp_bias = false;
  std::string hidden_act = "silu";
  int bos_token_id = 1;
  int eos_token_id = 2;
};

// The CLIP vision tower's geometry (clip_vision.h): transformers CLIPVisionConfig.
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

}  // namespace lvlm
