// Qwen2-VL and Qwen2.5-VL (transformers' Qwen2VLForConditionalGeneration and
// Qwen2_5_VLForConditionalGeneration): the vision tower, a Qwen2 decoder with M-RoPE, and the
// LM head. The prompt arrives with its image pad already expanded to one token per merged patch
// (or with one image pad, expanded here); the image's tokens take 3-D positions and the text after
// it continues from their largest position + 1 (get_rope_index).
#include "qwen2_vl.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "../../text/qwen2_vl_prompt.h"
#include "../decoder.h"
#include "mrope.h"
#include "names.h"
#include "vision.h"
#include "../image_tokens.h"

namespace lvlm::qwen2_vl {
namespace {

GridTHW grid_of(const ImageInput& image) {
  if (image.grid_thw.size() != 3) throw UsageError("a Qwen2-VL image needs its grid (image_grid_thw: t, h, w)");
  return {image.grid_thw[0], image.grid_thw[1], image.grid_thw[2]};
}

class Qwen2VLModel final : public VisionLanguageModel {
 public:
  Qwen2VLModel(const Config& config, WeightStore store, at::ScalarType dtype, at::Device device)
      : config_(config), store_(std::move(store)) {
    WeightLoader w(store_, dtype, device);
    const WeightNames names = weight_names_for(store_);
    vision_ = std::make_unique<VisionTower>(w, names, config.vision, config.windowed());
    decoder_ = std::make_unique<Decoder>(w, names.text, config.text);
    lm_head_ = config.text.tie_word_embeddings ? decoder_->embedding_table()
                                               : w.get(names.lm_head, {config.text.vocab_size, config.text.hidden_size});
    inv_freq_ = Rope::make(config.text.head_dim, config.text.rope_theta, 1.0, device).inv_freq;
    store_.throw_if_problems();
    for (const auto& name : store_.unused())
      if (!(config.text.tie_word_embeddings && name == names.lm_head))
        spdlog::warn("{}: tensor '{}' is not used by the Qwen2-VL model", store_.dir(), name);
    fill_info(names, dtype, device);
  }

  const ModelInfo& info() const override { return info_; }

  at::Tensor encode_image(const ImageInput& image) override {
    return vision_->forward(image.pixel_values, {grid_of(image)});
  }

  at::Tensor embed_tokens(const std::vector<int>& ids) override {
    return decoder_->embed_ids(ids);
  }

  PromptEmbedding embed_prompt(const std::vector<int>& ids, const ImageInput& image,
                               const at::Tensor& image_features) override;

  at::Tensor forward(const at::Tensor& embeddings, const at::Tensor& position_ids, KVCache* cache,
                     const ForwardOptions& options) override {
    const int64_t s = embeddings.size(0);
    at::Tensor positions = position_ids.defined() ? position_ids : text_positions(cache ? cache->length : 0, s);
    if (positions.dim() != 2 || positions.size(1) != s || (positions.size(0) != 1 && positions.size(0) != 3))
      throw UsageError("position_ids must be [1 or 3, " + std::to_string(s) + "]");
    if (positions.size(0) == 1) positions = positions.expand({3, s});  // text: all three coordinates equal
    auto [cos, sin] = mrope_cos_sin(inv_freq_, positions.to(inv_freq_.device()), config_.mrope_section,
                                    embeddings.scalar_type());
    return decoder_->forward(embeddings, cos, sin, cache, options);
  }

  KVCache new_cache(int64_t capacity) const override { return decoder_->new_cache(capacity); }
  at::Tensor final_norm(const at::Tensor& hidden) const override { return decoder_->final_norm(hidden); }
  at::Tensor unembed(const at::Tensor& normed) const override { return linear_forward(normed, lm_head_); }
  bool unembed_rows_independent(int64_t rows) const override { return linear_rows_independent(rows, lm_head_); }

 private:
  void fill_info(const WeightNames& n, at::ScalarType dtype, at::Device device) {
    info_.family = "qwen2_vl";
    info_.architecture = config_.architecture;
    info_.path = store_.dir();
    info_.num_layers = config_.text.num_hidden_layers;
    info_.hidden_size = config_.text.hidden_size;
    info_.vocab_size = config_.text.vocab_size;
    info_.max_positions = config_.text.max_position_embeddings;
    info_.image_token_index = config_.image_token_id;
    info_.num_image_features = 0;  // depends on the image's size
    info_.image_size = 0;
    info_.eos_token_ids = config_.eos_token_ids;
    info_.weights_dtype = store_.dtype_names();
    info_.compute_dtype = compute_dtype_name(dtype);
    info_.device = device.str();
    info_.layer_weights = {n.embed_tokens() + ", " + n.vision + "*"};
    for (int i = 0; i < config_.text.num_hidden_layers; ++i) info_.layer_weights.push_back(n.text_layer(i) + "*");
    info_.head_weights = n.text + "norm.weight, " + (config_.text.tie_word_embeddings ? n.embed_tokens() : n.lm_head);
  }

  Config config_;
  WeightStore store_;
  std::unique_ptr<VisionTower> vision_;
  std::unique_ptr<Decoder> decoder_;
  at::Tensor lm_head_, inv_freq_;
  ModelInfo info_;
};

// The image's features replace its run of image pads (one pad is expanded to the run first, as
// Qwen2VLProcessor does); positions follow get_rope_index.
PromptEmbedding Qwen2VLModel::embed_prompt(const std::vector<int>& ids, const ImageInput& image,
                                           const at::Tensor& image_features) {
  const int pad = config_.image_token_id;
  const bool has_image = image_features.defined();
  const ImageTokenRun run = find_image_tokens(ids, pad, has_image, has_image ? image_features.size(0) : 0);
  PromptEmbedding out;
  if (run.empty()) {
    out.embeddings = embed_tokens(ids);
    out.next_position = static_cast<int64_t>(ids.size());
    return out;
  }
  const int64_t n = image_features.size(0);
  std::vector<int> expanded(ids.begin(), ids.begin() + run.first);
  expanded.insert(expanded.end(), n, pad);
  expanded.insert(expanded.end(), ids.begin() + run.after(), ids.end());
  at::Tensor text = embed_tokens(expanded);
  const int64_t first = run.first;
  text.narrow(0, first, n).copy_(image_features.to(text.device(), text.scalar_type()));
  out.embeddings = text;
  for (int64_t p = 0; p < n; ++p) out.image_positions.push_back(first + p);
  const GridTHW g = grid_of(image);
  const MropePositions index = qwen2_vl_rope_index(expanded, pad, config_.vision_start_token_id, {g.t, g.h, g.w},
                                                   config_.vision.spatial_merge_size);
  std::vector<int64_t> rows;
  for (const auto& axis : index.axes) rows.insert(rows.end(), axis.begin(), axis.end());
  out.position_ids = at::tensor(rows, at::TensorOptions().dtype(at::kLong)).view({3, -1});
  out.next_position = static_cast<int64_t>(expanded.size()) + index.delta;
  return out;
}

}  // namespace

std::unique_ptr<VisionLanguageModel> load(const std::string& model_dir, WeightStore store, at::ScalarType dtype,
                                          at::Device device) {
  Config config = load_config(model_dir);
  return std::make_unique<Qwen2VLModel>(config, std::move(store), dtype, device);
}

}  // namespace lvlm::qwen2_vl
