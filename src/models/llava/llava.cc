// LLaVA-1.5 = CLIP vision tower + two-layer GELU projector + LLaMA decoder (transformers'
// LlavaForConditionalGeneration). This file loads the three and splices image features into the
// token sequence; everything probing-related lives outside the model.
#include "llava.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "../clip_vision.h"
#include "../decoder.h"
#include "config.h"
#include "lvlm_probe/device_path.h"
#include "names.h"
#include "../image_tokens.h"

namespace lvlm::llava {
namespace {

struct Projector {
  Linear linear_1, linear_2;
  at::Tensor operator()(const at::Tensor& x) const { return linear_2(at::gelu(linear_1(x))); }
};

// Weights that exist in LLaVA checkpoints but never influence the output: vision layers past the
// selected feature layer, CLIP's post-layernorm, and a stored LM head when the head is tied.
bool expected_unused(const std::string& name, const WeightNames& n, int vision_layers_used, bool tied) {
  if (tied && name == n.lm_head) return true;
  if (name.rfind(clip_post_norm_name(n.vision) + ".", 0) == 0) return true;
  const std::string layers = clip_layers_prefix(n.vision);
  if (name.rfind(layers, 0) == 0) return std::stoi(name.substr(layers.size())) >= vision_layers_used;
  return false;
}

class LlavaModel final : public VisionLanguageModel {
 public:
  LlavaModel(const LlavaConfig& config, WeightStore store, at::ScalarType dtype, at::Device device)
      : config_(config), store_(std::move(store)) {
    WeightLoader w(store_, dtype, device);
    const WeightNames names = weight_names_for(store_);
    const int vision_layers = config.vision_hidden_state_index();
    vision_ = std::make_unique<ClipVisionTower>(w, names.vision, config.vision, vision_layers);
    const int64_t vd = config.vision.hidden_size, td = config.text.hidden_size;
    projector_.linear_1 = Linear::load(w, names.projector_linear(1), td, vd, config.projector_bias);
    projector_.linear_2 = Linear::load(w, names.projector_linear(2), td, td, config.projector_bias);
    decoder_ = std::make_unique<Decoder>(w, names.text, config.text);
    rope_ = Rope::make(config.text.head_dim, config.text.rope_theta, config.text.rope_linear_factor, device);
    if (config.text.tie_word_embeddings) {
      lm_head_ = decoder_->embedding_table();
    } else {
      lm_head_ = w.get(names.lm_head, {config.text.vocab_size, td});
    }
    store_.throw_if_problems();
    for (const auto& name : store_.unused())
      if (!expected_unused(name, names, vision_layers, config.text.tie_word_embeddings))
        spdlog::warn("{}: tensor '{}' is not used by the LLaVA model", store_.dir(), name);
    fill_info(dtype, device);
    fill_weight_names(names);
  }

  const ModelInfo& info() const override { return info_; }

  at::Tensor encode_image(const ImageInput& image) override {
    const at::Tensor& pixel_values = image.pixel_values;
    const int64_t size = config_.vision.image_size;
    if (pixel_values.dim() != 4 || pixel_values.size(1) != 3 || pixel_values.size(2) != size || pixel_values.size(3) != size)
      throw UsageError("pixel_values must be [1, 3, " + std::to_string(size) + ", " + std::to_string(size) + "]");
    at::Tensor h = vision_->hidden_state(pixel_values, config_.vision_hidden_state_index());
    if (config_.vision_feature_select_strategy == "default") h = h.narrow(0, 1, h.size(0) - 1);  // drop CLS
    return projector_(h);
  }

  at::Tensor embed_tokens(const std::vector<int>& ids) override {
    return decoder_->embed_ids(ids);
  }

  PromptEmbedding embed_prompt(const std::vector<int>& ids, const ImageInput& image,
                               const at::Tensor& image_features) override;

  // LLaMA's 1-D RoPE: at the cache slots unless positions are given.
  at::Tensor forward(const at::Tensor& embeddings, const at::Tensor& position_ids, KVCache* cache,
                     const ForwardOptions& options) override {
    const int64_t start = cache ? cache->length : 0;
    auto [cos, sin] = position_ids.defined() ? rope_.cos_sin(position_ids[0], embeddings.scalar_type())
                                             : rope_.cos_sin(start, embeddings.size(0), embeddings.scalar_type());
    return decoder_->forward(embeddings, cos, sin, cache, options);
  }
  KVCache new_cache(int64_t capacity) const override { return decoder_->new_cache(capacity); }
  at::Tensor final_norm(const at::Tensor& hidden) const override { return decoder_->final_norm(hidden); }
  at::Tensor unembed(const at::Tensor& normed) const override { return linear_forward(normed, lm_head_); }
  bool unembed_rows_independent(int64_t rows) const override { return linear_rows_independent(rows, lm_head_); }

 private:
  void fill_info(at::ScalarType dtype, at::Device device) {
    info_.family = family().name();
    info_.architecture = config_.architecture;
    info_.path = store_.dir();
    info_.num_layers = config_.text.num_hidden_layers;
    info_.hidden_size = config_.text.hidden_size;
    info_.vocab_size = config_.text.vocab_size;
    info_.max_positions = config_.text.max_position_embeddings;
    info_.image_token_index = config_.image_token_index;
    info_.num_image_features = config_.num_image_features();
    info_.image_size = config_.vision.image_size;
    info_.eos_token_ids = config_.eos_token_ids;
    info_.weights_dtype = store_.dtype_names();
    info_.compute_dtype = compute_dtype_name(dtype);
    info_.device = generic_kernels() ? "cpu-generic" : device.str();
  }

  void fill_weight_names(const WeightNames& n) {
    const std::string embedding = decoder_embedding_name(n.text);
    info_.layer_weights = {embedding + ", " + n.projector + "*, " + n.vision + "*"};
    for (int i = 0; i < config_.text.num_hidden_layers; ++i) info_.layer_weights.push_back(n.text_layer(i) + "*");
    info_.head_weights =
        decoder_norm_name(n.text) + ".weight, " + (config_.text.tie_word_embeddings ? embedding : n.lm_head);
  }

  LlavaConfig config_;
  WeightStore store_;
  std::unique_ptr<ClipVisionTower> vision_;
  Projector projector_;
  std::unique_ptr<Decoder> decoder_;
  Rope rope_;
  at::Tensor lm_head_;
  ModelInfo info_;
};

// One image token becomes num_image_features positions (transformers 4.40's merge); a prompt that
// already holds a run of exactly that many image tokens (newer processors) is filled in place.
// Positions are the slots (position_ids undefined).
PromptEmbedding LlavaModel::embed_prompt(const std::vector<int>& ids, const ImageInput& image,
                                         const at::Tensor& image_features) {
  (void)image;  // the features say all LLaVA needs: their count is fixed
  const int image_id = config_.image_token_index;
  const int64_t n = config_.num_image_features();
  const ImageTokenRun run = find_image_tokens(ids, image_id, image_features.defined(), n,
                                              "; add <image> to the prompt or use a template");
  PromptEmbedding out;
  at::Tensor text = embed_tokens(ids);
  if (run.empty()) {
    out.embeddings = text;
    out.next_position = text.size(0);
    return out;
  }
  const int64_t first = run.first, after = run.after();
  at::Tensor features = image_features.to(text.device(), text.scalar_type());
  out.embeddings = at::cat({text.narrow(0, 0, first), features, text.narrow(0, after, text.size(0) - after)}, 0);
  for (int64_t p = 0; p < n; ++p) out.image_positions.push_back(first + p);
  out.next_position = out.embeddings.size(0);
  return out;
}

}  // namespace

std::unique_ptr<VisionLanguageModel> load(const std::string& model_dir, WeightStore store, at::ScalarType dtype,
                                          at::Device device) {
  LlavaConfig config = load_llava_config(model_dir);
  return std::make_unique<LlavaModel>(config, std::move(store), dtype, device);
}

}  // namespace lvlm::llava
