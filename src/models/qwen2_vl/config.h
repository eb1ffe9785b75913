// Qwen2-VL and Qwen2.5-VL configuration as transformers' Qwen2VLConfig / Qwen2_5_VLConfig read
// config.json: omitted keys take those classes' defaults; the language keys sit at the top level
// (transformers < 4.52) or in `text_config` (later releases). Torch-free: `inspect` and the
// fuzzers use it.
#pragma once

#include <string>
#include <vector>

#include "../block_configs.h"
#include "lvlm_probe/json.h"

namespace lvlm::qwen2_vl {

enum class Version { qwen2_vl, qwen2_5_vl };

// Qwen2VLVisionConfig / Qwen2_5_VLVisionConfig. The two name the same sizes differently:
// Qwen2-VL's `embed_dim` is the tower width and `hidden_size` the decoder's, Qwen2.5-VL's
// `hidden_size` is the tower width and `out_hidden_size` the decoder's. Stored here by meaning.
struct VisionConfig {
  int depth = 32;
  int width = 1280;             // tower width (2-VL embed_dim, 2.5-VL hidden_size)
  int intermediate_size = 5120; // 2-VL: width * mlp_ratio; 2.5-VL: intermediate_size
  int out_size = 3584;          // merger output = decoder width (2-VL hidden_size, 2.5-VL out_hidden_size)
  int num_heads = 16;
  int in_channels = 3;
  int patch_size = 14;
  int spatial_merge_size = 2;
  int temporal_patch_size = 2;
  std::string hidden_act = "quick_gelu";  // 2-VL: fc1/fc2 MLP; 2.5-VL: gated (silu) MLP
  // Qwen2.5-VL only: window attention in windows of window_size pixels, except the blocks listed.
  int window_size = 0;
  std::vector<int> fullatt_block_indexes;

  int head_dim() const { return width / num_heads; }
  // Columns of one pixel row: channel x temporal x patch x patch (1176 for 3 x 2 x 14 x 14).
  int patch_columns() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
  int merge_unit() const { return spatial_merge_size * spatial_merge_size; }
  // Merged patches per window side (112 / 2 / 14 = 4 for Qwen2.5-VL).
  int merger_window() const { return window_size / spatial_merge_size / patch_size; }
};

struct Config {
  std::string path;  // the config.json it came from, for messages
  std::string architecture;
  Version version = Version::qwen2_vl;
  // The decoder's geometry in the shared decoder's terms (Qwen2VLTextConfig's defaults; q/k/v
  // biases, no o bias). eos_token_id -1 when config.json names none.
  lvlm::TextConfig text;
  std::vector<int> mrope_section;  // rotary frequencies per axis (temporal, height, width), sum = head_dim / 2
  VisionConfig vision;
  int image_token_id = 151655;
  int video_token_id = 151656;
  int vision_start_token_id = 151652;
  int vision_end_token_id = 151653;
  std::vector<int> eos_token_ids;  // generation_config.json's, else text.eos_token_id (may be empty)

  bool windowed() const { return version == Version::qwen2_5_vl; }
};

constexpr const char* kQwen2VLArchitecture = "Qwen2VLForConditionalGeneration";
constexpr const char* kQwen25VLArchitecture = "Qwen2_5_VLForConditionalGeneration";

// InputError naming `origin` and the key for malformed, inconsistent or unsupported values.
Config parse_config(const std::string& json_text, const std::string& origin);
// <model_dir>/config.json, and generation_config.json's eos_token_id when present.
Config load_config(const std::string& model_dir);

}  // namespace lvlm::qwen2_vl
