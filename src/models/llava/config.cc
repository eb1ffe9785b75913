// config.json -> LlavaConfig, following transformers 4.40's LlavaConfig/LlamaConfig/
// CLIPVisionConfig constructors: omitted keys take those classes' defaults, and an omitted
// vision_config takes the LLaVA-1.5 CLIP-L/336 geometry that LlavaConfig substitutes.
#include "config.h"

#include <tuple>

#include "lvlm_probe/json.h"
#include "../model_files.h"

namespace lvlm {
namespace {

void require_positive(const std::string& origin, const char* key, int value) {
  if (value <= 0) throw InputError(origin, std::string("key '") + key + "' must be positive, found " + std::to_string(value));
}

void require_in_range(const std::string& origin, const char* section, const char* key, int value, int max) {
  require_positive(origin, key, value);
  if (value > max)
    throw InputError(origin, std::string(section) + "." + key + " = " + std::to_string(value) +
                                 " is above the limit of " + std::to_string(max));
}

TextConfig parse_text(const Json& j, const std::string& origin) {
  TextConfig t;
  t.model_type = json_get<std::string>(j, "model_type", "llama", origin);
  if (t.model_type != "llama")
    throw InputError(origin, "text_config.model_type '" + t.model_type + "' is not supported (supported: llama)");
  t.vocab_size = json_get(j, "vocab_size", t.vocab_size, origin);
  t.hidden_size = json_get(j, "hidden_size", t.hidden_size, origin);
  t.intermediate_size = json_get(j, "intermediate_size", t.intermediate_size, origin);
  t.num_hidden_layers = json_get(j, "num_hidden_layers", t.num_hidden_layers, origin);
  t.num_attention_heads = json_get(j, "num_attention_heads", t.num_attention_heads, origin);
  t.num_key_value_heads = json_get(j, "num_key_value_heads", t.num_attention_heads, origin);
  t.max_position_embeddings = json_get(j, "max_position_embeddings", t.max_position_embeddings, origin);
  t.rms_norm_eps = json_get(j, "rms_norm_eps", t.rms_norm_eps, origin);
  t.rope_theta = json_get(j, "rope_theta", t.rope_theta, origin);
  t.tie_word_embeddings = json_get(j, "tie_word_embeddings", t.tie_word_embeddings, origin);
  t.attention_bias = json_get(j, "attention_bias", t.attention_bias, origin);
  t.mlp_bias = json_get(j, "mlp_bias", t.mlp_bias, origin);
  t.hidden_act = json_get<std::string>(j, "hidden_act", t.hidden_act, origin);
  t.bos_token_id = json_get(j, "bos_token_id", t.bos_token_id, origin);
  t.eos_token_id = json_get(j, "eos_token_id", t.eos_token_id, origin);
  for (auto [key, v] : {std::pair{"vocab_size", t.vocab_size}, {"hidden_size", t.hidden_size},
                        {"intermediate_size", t.intermediate_size}, {"num_hidden_layers", t.num_hidden_layers},
                        {"num_attention_heads", t.num_attention_heads}, {"num_key_value_heads", t.num_key_value_heads},
                        {"max_position_embeddings", t.max_position_embeddings}})
    require_positive(origin, key, v);
  for (auto [key, v, max] : {std::tuple{"vocab_size", t.vocab_size, kMaxVocab}, {"hidden_size", t.hidden_size, kMaxHidden},
                             {"intermediate_size", t.intermediate_size, kMaxIntermediate},
                             {"num_hidden_layers", t.num_hidden_layers, kMaxLayers},
                             {"num_attention_heads", t.num_attention_heads, kMaxHeads},
                             {"num_key_value_heads", t.num_key_value_heads, kMaxHeads},
                             {"max_position_embeddings", t.max_position_embeddings, kMaxPositions}})
    require_in_range(origin, "text_config", key, v, max);
  t.head_dim = json_get(j, "head_dim", t.hidden_size / t.num_attention_heads, origin);
  if (t.head_dim > kMaxHidden) require_in_range(origin, "text_config", "head_dim", t.head_dim, kMaxHidden);
  if (t.hidden_size % t.num_attention_heads != 0 && !j.contains("head_dim"))
    throw InputError(origin, "text_config.hidden_size " + std::to_string(t.hidden_size) +
                                 " is not divisible by num_attention_heads " + std::to_string(t.num_attention_heads));
  if (t.num_attention_heads % t.num_key_value_heads != 0)
    throw InputError(origin, "text_config.num_attention_heads " + std::to_string(t.num_attention_heads) +
                                 " is not a multiple of num_key_value_heads " + std::to_string(t.num_key_value_heads));
  if (t.head_dim <= 0 || t.head_dim % 2 != 0)
    throw InputError(origin, "text_config.head_dim must be positive and even for rotary embeddings");
  if (t.hidden_act != "silu")
    throw InputError(origin, "text_config.hidden_act '" + t.hidden_act + "' is not supported (supported: silu)");
  if (!(t.rms_norm_eps > 0) || !(t.rope_theta > 0))
    throw InputError(origin, "text_config.rms_norm_eps and rope_theta must be positive");
  auto scaling = j.find("rope_scaling");
  if (scaling != j.end() && !scaling->is_null()) {
    std::string type = json_get<std::string>(*scaling, "type", json_get<std::string>(*scaling, "rope_type", "", origin), origin);
    if (type != "linear") throw InputError(origin, "text_config.rope_scaling type '" + type + "' is not supported (supported: linear)");
    t.rope_linear_factor = json_require<double>(*scaling, "factor", origin);
    if (!(t.rope_linear_factor > 0)) throw InputError(origin, "text_config.rope_scaling.factor must be positive");
  }
  return t;
}

VisionConfig parse_vision(const Json& j, const std::string& origin) {
  VisionConfig v;
  v.model_type = json_get<std::string>(j, "model_type", "clip_vision_model", origin);
  if (v.model_type != "clip_vision_model")
    throw InputError(origin, "vision_config.model_type '" + v.model_type + "' is not supported (supported: clip_vision_model)");
  v.hidden_size = json_get(j, "hidden_size", v.hidden_size, origin);
  v.intermediate_size = json_get(j, "intermediate_size", v.intermediate_size, origin);
  v.num_hidden_layers = json_get(j, "num_hidden_layers", v.num_hidden_layers, origin);
  v.num_attention_heads = json_get(j, "num_attention_heads", v.num_attention_heads, origin);
  v.num_channels = json_get(j, "num_channels", v.num_channels, origin);
  v.image_size = json_get(j, "image_size", v.image_size, origin);
  v.patch_size = json_get(j, "patch_size", v.patch_size, origin);
  v.layer_norm_eps = json_get(j, "layer_norm_eps", v.layer_norm_eps, origin);
  v.hidden_act = json_get<std::string>(j, "hidden_act", v.hidden_act, origin);
  for (auto [key, val] : {std::pair{"hidden_size", v.hidden_size}, {"intermediate_size", v.intermediate_size},
                          {"num_hidden_layers", v.num_hidden_layers}, {"num_attention_heads", v.num_attention_heads},
                          {"image_size", v.image_size}, {"patch_size", v.patch_size}})
    require_positive(origin, key, val);
  for (auto [key, val, max] : {std::tuple{"hidden_size", v.hidden_size, kMaxHidden},
                               {"intermediate_size", v.intermediate_size, kMaxIntermediate},
                               {"num_hidden_layers", v.num_hidden_layers, kMaxLayers},
                               {"num_attention_heads", v.num_attention_heads, kMaxHeads},
                               {"image_size", v.image_size, kMaxImageSize}})
    require_in_range(origin, "vision_config", key, val, max);
  if (v.num_channels != 3) throw InputError(origin, "vision_config.num_channels must be 3 (RGB)");
  if (v.hidden_size % v.num_attention_heads != 0)
    throw InputError(origin, "vision_config.hidden_size is not divisible by num_attention_heads");
  if (v.image_size % v.patch_size != 0)
    throw InputError(origin, "vision_config.image_size " + std::to_string(v.image_size) +
                                 " is not a multiple of patch_size " + std::to_string(v.patch_size));
  if (v.hidden_act != "quick_gelu" && v.hidden_act != "gelu")
    throw InputError(origin, "vision_config.hidden_act '" + v.hidden_act + "' is not supported (quick_gelu, gelu)");
  return v;
}

// LlavaConfig's substitute when vision_config is omitted: CLIP ViT-L/14 at 336 px.
VisionConfig llava_default_vision() {
  VisionConfig v;
  v.intermediate_size = 4096;
  v.hidden_size = 1024;
  v.patch_size = 14;
  v.image_size = 336;
  v.num_hidden_layers = 24;
  v.num_attention_heads = 16;
  return v;
}

}  // namespace

int LlavaConfig::vision_hidden_state_index() const {
  const int n = vision.num_hidden_layers + 1;  // embeddings + each layer's output
  return vision_feature_layer < 0 ? n + vision_feature_layer : vision_feature_layer;
}

LlavaConfig parse_llava_config(const std::string& json_text, const std::string& origin) {
  Json j = parse_json(json_text, origin);
  if (!j.is_object()) throw InputError(origin, "expected a JSON object");
  LlavaConfig c;
  c.path = origin;
  c.architecture = architecture_of(j);
  auto text = j.find("text_config");
  c.text = (text == j.end() || text->is_null()) ? TextConfig{} : parse_text(*text, origin);
  auto vision = j.find("vision_config");
  c.vision = (vision == j.end() || vision->is_null()) ? llava_default_vision() : parse_vision(*vision, origin);
  // Newer transformers write image_token_id; 4.40 writes image_token_index.
  c.image_token_index = json_get(j, "image_token_index", json_get(j, "image_token_id", c.image_token_index, origin), origin);
  if (j.contains("vision_feature_layer") && j["vision_feature_layer"].is_array())
    throw InputError(origin, "vision_feature_layer as a list (multi-layer features) is not supported");
  c.vision_feature_layer = json_get(j, "vision_feature_layer", c.vision_feature_layer, origin);
  c.vision_feature_select_strategy =
      json_get<std::string>(j, "vision_feature_select_strategy", c.vision_feature_select_strategy, origin);
  c.projector_hidden_act = json_get<std::string>(j, "projector_hidden_act", c.projector_hidden_act, origin);
  c.projector_bias = json_get(j, "multimodal_projector_bias", c.projector_bias, origin);
  if (c.vision_feature_select_strategy != "default" && c.vision_feature_select_strategy != "full")
    throw InputError(origin, "vision_feature_select_strategy '" + c.vision_feature_select_strategy +
                                 "' is not supported (default, full)");
  if (c.projector_hidden_act != "gelu")
    throw InputError(origin, "projector_hidden_act '" + c.projector_hidden_act + "' is not supported (gelu)");
  int idx = c.vision_hidden_state_index();
  if (idx < 1 || idx > c.vision.num_hidden_layers)
    throw InputError(origin, "vision_feature_layer " + std::to_string(c.vision_feature_layer) +
                                 " does not select a layer of the " + std::to_string(c.vision.num_hidden_layers) +
                                 "-layer vision tower");
  if (c.image_token_index < 0 || c.image_token_index >= c.text.vocab_size)
    throw InputError(origin, "image_token_index " + std::to_string(c.image_token_index) + " is outside the vocabulary of " +
                                 std::to_string(c.text.vocab_size));
  c.eos_token_ids = {c.text.eos_token_id};
  return c;
}

LlavaConfig load_llava_config(const std::string& model_dir) {
  std::string path;
  LlavaConfig c = parse_llava_config(read_config_json(model_dir, &path), path);
  if (auto eos = generation_eos_ids(model_dir)) c.eos_token_ids = *eos;
  return c;
}

}  // namespace lvlm
