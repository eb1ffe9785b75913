// `inspect` for Qwen2-VL / Qwen2.5-VL checkpoints: everything comes from config.json,
// preprocessor_config.json and the safetensors headers (the mapped files are never paged in).
#include <cstdio>

#include "../description.h"
#include "config.h"
#include "family.h"
#include "lvlm_probe/checkpoint.h"

namespace lvlm::qwen2_vl {
namespace {

// The processor's pixel bounds (Qwen2VLImageProcessor's defaults when the file or key is absent):
// an image becomes one token per (patch x merge)^2 pixels after resizing within them.
std::pair<int64_t, int64_t> pixel_bounds(const std::string& model_dir) {
  int64_t lo = 56 * 56, hi = 28 * 28 * 1280;
  const std::string path = join_path(model_dir, "preprocessor_config.json");
  if (file_exists(path)) {
    const Json j = read_json_file(path);
    lo = json_get<int64_t>(j, "min_pixels", lo, path);
    hi = json_get<int64_t>(j, "max_pixels", hi, path);
  }
  return {lo, hi};
}

std::string join_ints(const std::vector<int>& v, const char* sep) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : sep) + std::to_string(x);
  return s;
}

}  // namespace

ModelDescription describe(const std::string& model_dir) {
  const Config c = load_config(model_dir);
  WeightStore store = WeightStore::open(model_dir);
  uint64_t disk = 0;
  const OrderedJson dtypes = stored_dtypes(store, &disk);
  const uint64_t params = store.parameter_count();
  const lvlm::TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  const auto [min_pixels, max_pixels] = pixel_bounds(model_dir);
  const int64_t token_pixels = int64_t(v.patch_size) * v.spatial_merge_size * v.patch_size * v.spatial_merge_size;
  const int64_t min_tokens = std::max<int64_t>(1, min_pixels / token_pixels), max_tokens = max_pixels / token_pixels;
  OrderedJson vision = {{"blocks", v.depth}, {"hidden_size", v.width}, {"intermediate_size", v.intermediate_size},
                        {"heads", v.num_heads}, {"patch_size", v.patch_size}, {"temporal_patch_size", v.temporal_patch_size},
                        {"spatial_merge_size", v.spatial_merge_size}, {"mlp", c.windowed() ? "swiglu" : v.hidden_act}};
  if (c.windowed()) vision.update({{"window_size", v.window_size}, {"fullatt_block_indexes", v.fullatt_block_indexes}});
  vision.update({{"image_tokens", {{"min", min_tokens}, {"max", max_tokens}, {"min_pixels", min_pixels}, {"max_pixels", max_pixels}}}});
  ModelDescription d;
  d.json = {{"path", model_dir},
            {"family", family().name()},
            {"architecture", c.architecture},
            {"text", {{"layers", t.num_hidden_layers}, {"hidden_size", t.hidden_size}, {"intermediate_size", t.intermediate_size},
                      {"heads", t.num_attention_heads}, {"kv_heads", t.num_key_value_heads}, {"head_dim", t.head_dim},
                      {"vocab_size", t.vocab_size}, {"max_positions", t.max_position_embeddings},
                      {"rope_theta", t.rope_theta}, {"mrope_section", c.mrope_section}, {"rms_norm_eps", t.rms_norm_eps},
                      {"tied_lm_head", t.tie_word_embeddings}}},
            {"vision", vision},
            {"files", store.files().size()},
            {"dtypes_on_disk_bytes", dtypes},
            {"parameters", params},
            {"memory_bytes", {{"weights_on_disk", disk},
                              {"f32_cpu", params * 4 + working_bytes(t, 4)},
                              {"bf16", params * 2 + working_bytes(t, 2)}}}};
  std::string dt;
  for (auto it = dtypes.begin(); it != dtypes.end(); ++it) dt += (dt.empty() ? "" : ", ") + it.key() + " " + size_text(it.value());
  std::string windows;
  if (c.windowed())
    windows = ", windows of " + std::to_string(v.window_size) + " px (full attention in blocks " +
              join_ints(v.fullatt_block_indexes, ", ") + ")";
  char buf[2560];
  std::snprintf(buf, sizeof buf,
                "model         %s\n"
                "family        %s (%s)\n"
                "language      %d layers, hidden %d, MLP %d, %d heads / %d KV heads (head %d), vocab %d, %d positions\n"
                "              rope_theta %g, M-RoPE sections %s (temporal/height/width), rms_norm_eps %g, LM head %s\n"
                "vision        %d blocks, hidden %d, MLP %d, %d heads, patch %d x %d frames, %dx%d patches merged%s\n"
                "image tokens  by image size: one per %lldx%lld pixels, %lld to %lld (min_pixels %lld, max_pixels %lld)\n"
                "on disk       %zu file(s): %s\n"
                "parameters    %s\n"
                "memory        weights %s as stored; probe needs ~%s in f32 on CPU, ~%s in bf16 (incl. KV cache for %d positions)\n",
                model_dir.c_str(), family().name().c_str(), c.architecture.c_str(), t.num_hidden_layers, t.hidden_size,
                t.intermediate_size, t.num_attention_heads, t.num_key_value_heads, t.head_dim, t.vocab_size,
                t.max_position_embeddings, t.rope_theta, join_ints(c.mrope_section, "/").c_str(), t.rms_norm_eps,
                t.tie_word_embeddings ? "tied to the embeddings" : "untied", v.depth, v.width, v.intermediate_size,
                v.num_heads, v.patch_size, v.temporal_patch_size, v.spatial_merge_size, v.spatial_merge_size,
                windows.c_str(), static_cast<long long>(v.patch_size * v.spatial_merge_size),
                static_cast<long long>(v.patch_size * v.spatial_merge_size), static_cast<long long>(min_tokens),
                static_cast<long long>(max_tokens), static_cast<long long>(min_pixels), static_cast<long long>(max_pixels),
                store.files().size(), dt.c_str(), count_text(params).c_str(), size_text(disk).c_str(),
                size_text(params * 4 + working_bytes(t, 4)).c_str(), size_text(params * 2 + working_bytes(t, 2)).c_str(),
                t.max_position_embeddings);
  d.text = buf;
  return d;
}

}  // namespace lvlm::qwen2_vl
