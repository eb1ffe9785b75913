// `inspect` for LLaVA checkpoints: everything is derived from config.json and the safetensors
// headers (the mapped files are never paged in).
#include <cstdio>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/model_config.h"

namespace lvlm {
namespace {

// Bytes in GiB from 1 GiB on, else MiB (tiny test models would read "0.00 GiB").
std::string gib(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  else std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1ull << 20));
  return buf;
}

// A parameter count as "7.063 B (7062886400)", "1.25 M (1250000)", "812": a round figure with
// the exact count beside it.
std::string count_text(uint64_t n) {
  char buf[64];
  const double x = static_cast<double>(n);
  if (n >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.3f B (%llu)", x / 1e9, static_cast<unsigned long long>(n));
  else if (n >= 1000000ull) std::snprintf(buf, sizeof buf, "%.3f M (%llu)", x / 1e6, static_cast<unsigned long long>(n));
  else if (n >= 1000ull) std::snprintf(buf, sizeof buf, "%.3f K (%llu)", x / 1e3, static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}

// Bytes a probe needs beyond the weights: KV cache for the whole context in the compute dtype,
// and the lens' float64 [L+1, vocab] working set (a handful of such arrays per step).
uint64_t working_bytes(const LlavaConfig& c, uint64_t element) {
  const TextConfig& t = c.text;
  const uint64_t kv = 2ull * t.num_hidden_layers * t.num_key_value_heads * t.head_dim * t.max_position_embeddings * element;
  const uint64_t lens = 6ull * (t.num_hidden_layers + 1) * t.vocab_size * 8;
  return kv + lens;
}

}  // namespace

ModelDescription describe_model(const std::string& model_dir) {
  LlavaConfig c = load_llava_config(model_dir);
  WeightStore store = WeightStore::open(model_dir);
  OrderedJson dtypes = OrderedJson::object();
  uint64_t disk = 0;
  for (const auto& [dtype, bytes] : store.bytes_by_dtype()) {
    dtypes[dtype_name(dtype)] = bytes;
    disk += bytes;
  }
  const uint64_t params = store.parameter_count();
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  ModelDescription d;
  d.json = {{"path", model_dir},
            {"family", "llava"},
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
                              {"f32_cpu", params * 4 + working_bytes(c, 4)},
                              {"bf16", params * 2 + working_bytes(c, 2)}}}};
  std::string dt;
  for (auto it = dtypes.begin(); it != dtypes.end(); ++it) dt += (dt.empty() ? "" : ", ") + it.key() + " " + gib(it.value());
  char buf[2048];
  std::snprintf(buf, sizeof buf,
                "model         %s\n"
                "family        llava (%s)\n"
                "language      %d layers, hidden %d, MLP %d, %d heads / %d KV heads (head %d), vocab %d, %d positions\n"
                "              rope_theta %g, rms_norm_eps %g, LM head %s\n"
                "vision        CLIP %d layers, hidden %d, %d heads, %dpx / patch %d, feature layer %d (%s) -> %d features\n"
                "on disk       %zu file(s): %s\n"
                "parameters    %s\n"
                "memory        weights %s as stored; probe needs ~%s in f32 on CPU, ~%s in bf16 (incl. KV cache for %d positions)\n",
                model_dir.c_str(), c.architecture.c_str(), t.num_hidden_layers, t.hidden_size, t.intermediate_size,
                t.num_attention_heads, t.num_key_value_heads, t.head_dim, t.vocab_size, t.max_position_embeddings,
                t.rope_theta, t.rms_norm_eps, t.tie_word_embeddings ? "tied to the embeddings" : "untied",
                v.num_hidden_layers, v.hidden_size, v.num_attention_heads, v.image_size, v.patch_size,
                c.vision_feature_layer, c.vision_feature_select_strategy.c_str(), c.num_image_features(),
                store.files().size(), dt.c_str(), count_text(params).c_str(), gib(disk).c_str(),
                gib(params * 4 + working_bytes(c, 4)).c_str(), gib(params * 2 + working_bytes(c, 2)).c_str(),
                t.max_position_embeddings);
  d.text = buf;
  return d;
}

}  // namespace lvlm
