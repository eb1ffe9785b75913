// config.json -> qwen2_vl::Config, following transformers' Qwen2VLConfig, Qwen2_5_VLConfig and
// their vision and text sub-configs (defaults of 4.51 and 4.57 agree).
#include "config.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "lvlm_probe/model_config.h"
#include "../model_files.h"

namespace lvlm::qwen2_vl {
namespace {

void require_in_range(const std::string& origin, const std::string& key, int value, int max) {
  if (value <= 0) throw InputError(origin, "key '" + key + "' must be positive, found " + std::to_string(value));
  if (value > max)
    throw InputError(origin, key + " = " + std::to_string(value) + " is above the limit of " + std::to_string(max));
}

std::vector<int> int_list(const Json& j, const char* key, const std::vector<int>& fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_array()) throw InputError(origin, std::string("key '") + key + "': expected a list of integers");
  std::vector<int> out;
  for (const auto& v : *it) {
    if (!v.is_number_integer()) throw InputError(origin, std::string("key '") + key + "': expected a list of integers");
    out.push_back(v.get<int>());
  }
  return out;
}

// rope_scaling as written by Qwen ({"type": "mrope", "mrope_section": [...]}) or rewritten by
// transformers ({"type": "default", "rope_type": "default", "mrope_section": [...]}).
std::vector<int> parse_mrope_section(const Json& j, const lvlm::TextConfig& t, const std::string& origin) {
  auto scaling = j.find("rope_scaling");
  if (scaling == j.end() || scaling->is_null() || !scaling->is_object())
    throw InputError(origin, "rope_scaling with mrope_section is missing (Qwen2-VL's decoder needs it)");
  const std::string type =
      json_get<std::string>(*scaling, "rope_type", json_get<std::string>(*scaling, "type", "default", origin), origin);
  if (type != "mrope" && type != "default")
    throw InputError(origin, "rope_scaling type '" + type + "' is not supported (supported: mrope, default)");
  std::vector<int> section = int_list(*scaling, "mrope_section", {}, origin);
  if (section.size() != 3)
    throw InputError(origin, "rope_scaling.mrope_section must list 3 sizes (temporal, height, width)");
  for (int s : section)
    if (s <= 0) throw InputError(origin, "rope_scaling.mrope_section sizes must be positive");
  const int sum = std::accumulate(section.begin(), section.end(), 0);
  if (sum != t.head_dim / 2)
    throw InputError(origin, "rope_scaling.mrope_section sums to " + std::to_string(sum) + ", expected head_dim / 2 = " +
                                 std::to_string(t.head_dim / 2));
  return section;
}

// Qwen2VLTextConfig's defaults (Qwen2-VL-72B's geometry).
lvlm::TextConfig qwen_text_defaults() {
  lvlm::TextConfig t;
  t.model_type = "qwen2_vl_text";
  t.vocab_size = 152064, t.hidden_size = 8192, t.intermediate_size = 29568, t.num_hidden_layers = 80;
  t.num_attention_heads = 64, t.num_key_value_heads = 8, t.max_position_embeddings = 32768;
  t.rms_norm_eps = 1e-5, t.rope_theta = 1e6;
  t.tie_word_embeddings = false;
  t.qkv_bias = true;
  t.bos_token_id = t.eos_token_id = -1;
  return t;
}

lvlm::TextConfig parse_text(const Json& j, const std::string& origin, const std::string& section) {
  lvlm::TextConfig t = qwen_text_defaults();
  t.vocab_size = json_get(j, "vocab_size", t.vocab_size, origin);
  t.hidden_size = json_get(j, "hidden_size", t.hidden_size, origin);
  t.intermediate_size = json_get(j, "intermediate_size", t.intermediate_size, origin);
  t.num_hidden_layers = json_get(j, "num_hidden_layers", t.num_hidden_layers, origin);
  t.num_attention_heads = json_get(j, "num_attention_heads", t.num_attention_heads, origin);
  // Qwen2VLTextConfig: 8 when omitted, the head count when written as null.
  t.num_key_value_heads = json_get(j, "num_key_value_heads", j.contains("num_key_value_heads") ? t.num_attention_heads : 8, origin);
  t.max_position_embeddings = json_get(j, "max_position_embeddings", t.max_position_embeddings, origin);
  t.rms_norm_eps = json_get(j, "rms_norm_eps", t.rms_norm_eps, origin);
  t.rope_theta = json_get(j, "rope_theta", t.rope_theta, origin);
  t.tie_word_embeddings = json_get(j, "tie_word_embeddings", t.tie_word_embeddings, origin);
  t.bos_token_id = json_get(j, "bos_token_id", t.bos_token_id, origin);
  t.eos_token_id = json_get(j, "eos_token_id", t.eos_token_id, origin);
  for (auto [key, v, max] : {std::tuple{"vocab_size", t.vocab_size, kMaxVocab}, {"hidden_size", t.hidden_size, kMaxHidden},
                             {"intermediate_size", t.intermediate_size, kMaxIntermediate},
                             {"num_hidden_layers", t.num_hidden_layers, kMaxLayers},
                             {"num_attention_heads", t.num_attention_heads, kMaxHeads},
                             {"num_key_value_heads", t.num_key_value_heads, kMaxHeads},
                             {"max_position_embeddings", t.max_position_embeddings, kMaxPositions}})
    require_in_range(origin, section + key, v, max);
  if (t.hidden_size % t.num_attention_heads != 0)
    throw InputError(origin, section + "hidden_size " + std::to_string(t.hidden_size) +
                                 " is not divisible by num_attention_heads " + std::to_string(t.num_attention_heads));
  if (t.num_attention_heads % t.num_key_value_heads != 0)
    throw InputError(origin, section + "num_attention_heads " + std::to_string(t.num_attention_heads) +
                                 " is not a multiple of num_key_value_heads " + std::to_string(t.num_key_value_heads));
  t.head_dim = t.hidden_size / t.num_attention_heads;
  if (t.head_dim % 2 != 0) throw InputError(origin, section + "head_dim must be even for rotary embeddings");
  const std::string act = json_get<std::string>(j, "hidden_act", "silu", origin);
  if (act != "silu") throw InputError(origin, section + "hidden_act '" + act + "' is not supported (supported: silu)");
  if (!(t.rms_norm_eps > 0) || !(t.rope_theta > 0))
    throw InputError(origin, section + "rms_norm_eps and rope_theta must be positive");
  return t;
}

VisionConfig parse_vision(const Json& j, Version version, const std::string& origin) {
  VisionConfig v;
  v.depth = json_get(j, "depth", v.depth, origin);
  v.num_heads = json_get(j, "num_heads", v.num_heads, origin);
  v.in_channels = json_get(j, "in_channels", v.in_channels, origin);
  v.patch_size = json_get(j, "patch_size", v.patch_size, origin);
  v.spatial_merge_size = json_get(j, "spatial_merge_size", v.spatial_merge_size, origin);
  v.temporal_patch_size = json_get(j, "temporal_patch_size", v.temporal_patch_size, origin);
  if (version == Version::qwen2_vl) {
    v.width = json_get(j, "embed_dim", 1280, origin);
    v.out_size = json_get(j, "hidden_size", 3584, origin);
    const double ratio = json_get(j, "mlp_ratio", 4.0, origin);
    if (!(ratio > 0) || ratio * v.width > kMaxIntermediate)
      throw InputError(origin, "vision_config.mlp_ratio must be positive and keep the MLP within limits");
    v.intermediate_size = static_cast<int>(v.width * ratio);  // int(embed_dim * mlp_ratio), as transformers
    v.hidden_act = json_get<std::string>(j, "hidden_act", "quick_gelu", origin);
  } else {
    v.width = json_get(j, "hidden_size", 3584, origin);
    v.out_size = json_get(j, "out_hidden_size", 3584, origin);
    v.intermediate_size = json_get(j, "intermediate_size", 3420, origin);
    v.hidden_act = json_get<std::string>(j, "hidden_act", "silu", origin);
    v.window_size = json_get(j, "window_size", 112, origin);
    v.fullatt_block_indexes = int_list(j, "fullatt_block_indexes", {7, 15, 23, 31}, origin);
  }
  for (auto [key, val, max] : {std::tuple{"depth", v.depth, kMaxLayers}, {"width", v.width, kMaxHidden},
                               {"intermediate_size", v.intermediate_size, kMaxIntermediate},
                               {"out_hidden_size", v.out_size, kMaxHidden}, {"num_heads", v.num_heads, kMaxHeads},
                               {"patch_size", v.patch_size, kMaxImageSize},
                               {"spatial_merge_size", v.spatial_merge_size, 64},
                               {"temporal_patch_size", v.temporal_patch_size, 64}})
    require_in_range(origin, std::string("vision_config.") + key, val, max);
  if (v.in_channels != 3) throw InputError(origin, "vision_config.in_channels must be 3 (RGB)");
  if (v.width % v.num_heads != 0 || v.head_dim() % 4 != 0)
    throw InputError(origin, "vision_config: the tower width " + std::to_string(v.width) + " over " +
                                 std::to_string(v.num_heads) + " heads must give a head size divisible by 4 (2-D rotary)");
  if (v.hidden_act != "quick_gelu" && v.hidden_act != "gelu" && v.hidden_act != "silu")
    throw InputError(origin, "vision_config.hidden_act '" + v.hidden_act + "' is not supported (quick_gelu, gelu, silu)");
  if (version == Version::qwen2_5_vl) {
    if (v.window_size <= 0 || v.merger_window() <= 0)
      throw InputError(origin, "vision_config.window_size " + std::to_string(v.window_size) +
                                   " must hold at least one merged patch (spatial_merge_size x patch_size pixels)");
    for (int b : v.fullatt_block_indexes)
      if (b < 0) throw InputError(origin, "vision_config.fullatt_block_indexes must not be negative");
  }
  return v;
}

Version version_of(const std::string& architecture, const Json& j, const std::string& origin) {
  if (architecture == kQwen2VLArchitecture) return Version::qwen2_vl;
  if (architecture == kQwen25VLArchitecture) return Version::qwen2_5_vl;
  const std::string type = json_get<std::string>(j, "model_type", "", origin);
  if (type == "qwen2_vl") return Version::qwen2_vl;
  if (type == "qwen2_5_vl") return Version::qwen2_5_vl;
  throw InputError(origin, "architecture '" + architecture + "' is not Qwen2-VL or Qwen2.5-VL");
}

}  // namespace

Config parse_config(const std::string& json_text, const std::string& origin) {
  Json j = parse_json(json_text, origin);
  if (!j.is_object()) throw InputError(origin, "expected a JSON object");
  Config c;
  c.path = origin;
  c.architecture = architecture_of(j);
  c.version = version_of(c.architecture, j, origin);
  if (c.architecture.empty()) c.architecture = c.version == Version::qwen2_vl ? kQwen2VLArchitecture : kQwen25VLArchitecture;
  // Newer transformers nest the language keys in text_config; older ones keep them at the top.
  auto text = j.find("text_config");
  const bool nested = text != j.end() && text->is_object();
  c.text = parse_text(nested ? *text : j, origin, nested ? "text_config." : "");
  c.mrope_section = parse_mrope_section(nested ? *text : j, c.text, origin);
  auto vision = j.find("vision_config");
  c.vision = parse_vision(vision != j.end() && vision->is_object() ? *vision : Json::object(), c.version, origin);
  c.image_token_id = json_get(j, "image_token_id", c.image_token_id, origin);
  c.video_token_id = json_get(j, "video_token_id", c.video_token_id, origin);
  c.vision_start_token_id = json_get(j, "vision_start_token_id", c.vision_start_token_id, origin);
  c.vision_end_token_id = json_get(j, "vision_end_token_id", c.vision_end_token_id, origin);
  for (auto [key, id] : {std::pair{"image_token_id", c.image_token_id}, {"vision_start_token_id", c.vision_start_token_id}})
    if (id < 0 || id >= c.text.vocab_size)
      throw InputError(origin, std::string(key) + " " + std::to_string(id) + " is outside the vocabulary of " +
                                   std::to_string(c.text.vocab_size));
  if (c.vision.out_size != c.text.hidden_size)
    throw InputError(origin, "the vision merger's output size " + std::to_string(c.vision.out_size) +
                                 " differs from the decoder's hidden_size " + std::to_string(c.text.hidden_size));
  if (c.text.eos_token_id >= 0) c.eos_token_ids = {c.text.eos_token_id};
  return c;
}

Config load_config(const std::string& model_dir) {
  std::string path;
  Config c = parse_config(read_config_json(model_dir, &path), path);
  if (auto eos = generation_eos_ids(model_dir)) c.eos_token_ids = *eos;
  return c;
}

}  // namespace lvlm::qwen2_vl
