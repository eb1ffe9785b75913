// `inspect` for LLaVA checkpoints: everything is derived from config.json and the safetensors
// headers (the mapped files are never paged in).
#include <cstdio>

#include "../description.h"
#include "config.h"
#include "family.h"
#include "lvlm_probe/checkpoint.h"

namespace lvlm::llava {

ModelDescription describe(const std::string& model_dir) {
  LlavaConfig c = load_llava_config(model_dir);
  WeightStore store = WeightStore::open(model_dir);
  uint64_t disk = 0;
  const OrderedJson dtypes = stored_dtypes(store, &disk);
  const uint64_t params = store.parameter_count();
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  ModelDescription d;
  d.json = {{"path", model_dir},
            {"family", family().name()},
            {"architecture", c.architecture},
            {"text", {{"layers", t.num_hidden_layers}, {"hidden_size", t.hidden_size}, {"intermediate_size", t.intermediate_size},
                      {"heads", t.num_attention_heads}, {"kv_heads", t.num_key_value_heads}, {"head_dim", t.head_dim},
                      {"vocab_size", t.vocab_size}, {"max_positions", t.max_position_embeddings},
                      {"rope_theta", t.rope_theta}, {"rms_norm_eps", t.rms_norm_eps}, {"tied_lm_head", t.tie_word_embeddings}}},
            {"vision", {{"layers", v.num_hidden_layers}, {"hidden_size", v.hidden_size}, {"heads", v.num_attention_heads},
                        {"image_size", v.image_size}, {"patch_size", v.patch_size},
                        {"feature_layer", c.vision_feature_layer}, {"feature_strategy", c.vision_feature_select_strategy},
                        {"image_features", c.num_image_features()}}},
            {"files", store.files().size()},
            {"dtypes_on_disk_bytes", dtypes},
            {"parameters", params},
            {"memory_bytes", {{"weights_on_disk", disk},
                              {"f32_cpu", params * 4 + working_bytes(c.text, 4)},
                              {"bf16", params * 2 + working_bytes(c.text, 2)}}}};
  std::string dt;
  for (auto it = dtypes.begin(); it != dtypes.end(); ++it) dt += (dt.empty() ? "" : ", ") + it.key() + " " + size_text(it.value());
  char buf[2048];
  std::snprintf(buf, sizeof buf,
                "model         %s\n"
                "family        %s (%s)\n"
                "language      %d layers, hidden %d, MLP %d, %d heads / %d KV heads (head %d), vocab %d, %d positions\n"
                "              rope_theta %g, rms_norm_eps %g, LM head %s\n"
                "vision        CLIP %d layers, hidden %d, %d heads, %dpx / patch %d, feature layer %d (%s) -> %d features\n"
                "on disk       %zu file(s): %s\n"
                "parameters    %s\n"
                "memory        weights %s as stored; probe needs ~%s in f32 on CPU, ~%s in bf16 (incl. KV cache for %d positions)\n",
                model_dir.c_str(), family().name().c_str(), c.architecture.c_str(), t.num_hidden_layers, t.hidden_size, t.intermediate_size,
                t.num_attention_heads, t.num_key_value_heads, t.head_dim, t.vocab_size, t.max_position_embeddings,
                t.rope_theta, t.rms_norm_eps, t.tie_word_embeddings ? "tied to the embeddings" : "untied",
                v.num_hidden_layers, v.hidden_size, v.num_attention_heads, v.image_size, v.patch_size,
                c.vision_feature_layer, c.vision_feature_select_strategy.c_str(), c.num_image_features(),
                store.files().size(), dt.c_str(), count_text(params).c_str(), size_text(disk).c_str(),
                size_text(params * 4 + working_bytes(c.text, 4)).c_str(),
                size_text(params * 2 + working_bytes(c.text, 2)).c_str(),
                t.max_position_embeddings);
  d.text = buf;
  return d;
}

}  // namespace lvlm::llava
