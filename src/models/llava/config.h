// LLaVA's config.json: transformers 4.40's LlavaConfig with its LlamaConfig text model and
// CLIPVisionConfig vision tower, defaults included (config.json stores only non-default values).
// Torch-free: the parser is fuzzed and used by `inspect`.
#pragma once

#include <string>
#include <vector>

#include "../block_configs.h"

namespace lvlm {

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

// Reads <model_dir>/config.json (and generation_config.json when present). InputError naming the
// file and key for malformed, inconsistent or unsupported configurations.
LlavaConfig load_llava_config(const std::string& model_dir);
LlavaConfig parse_llava_config(const std::string& json_text, const std::string& origin);

}  // namespace lvlm
