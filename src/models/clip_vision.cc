#include "clip_vision.h"

#include <cmath>

#include "block_tensors.h"

namespace lvlm {

ClipVisionTower::ClipVisionTower(WeightLoader& w, const std::string& prefix, const VisionConfig& c, int layers_used)
    : config_(c) {
  const int64_t d = c.hidden_size, p = c.patch_size;
  const ClipEmbeddingNames e = clip_embedding_names(prefix);
  patch_weight_ = w.get(e.patch_embedding, {d, c.num_channels, p, p});
  class_embedding_ = w.get(e.class_embedding, {d});
  position_embedding_ = w.get(e.position_embedding, {c.num_patches() + 1, d});
  pre_norm_ = LayerNorm::load(w, e.pre_norm, d, c.layer_norm_eps);
  for (int i = 0; i < layers_used; ++i) {
    const ClipLayerNames n = clip_layer_names(prefix, i);
    Layer layer;
    layer.norm1 = LayerNorm::load(w, n.norm1, d, c.layer_norm_eps);
    layer.norm2 = LayerNorm::load(w, n.norm2, d, c.layer_norm_eps);
    layer.q = Linear::load(w, n.q, d, d, true);
    layer.k = Linear::load(w, n.k, d, d, true);
    layer.v = Linear::load(w, n.v, d, d, true);
    layer.out = Linear::load(w, n.out, d, d, true);
    layer.fc1 = Linear::load(w, n.fc1, c.intermediate_size, d, true);
    layer.fc2 = Linear::load(w, n.fc2, d, c.intermediate_size, true);
    layers_.push_back(std::move(layer));
  }
}

// CLIPVisionEmbeddings: conv patches (no bias), prepend the class embedding, add positions.
at::Tensor ClipVisionTower::embed(const at::Tensor& pixel_values) const {
  const at::ScalarType dtype = patch_weight_.scalar_type();
  at::Tensor x = pixel_values.to(patch_weight_.device(), dtype);
  at::Tensor patches;
  if (patch_weight_.is_cpu() && (dtype == at::kHalf || (dtype == at::kBFloat16 && fast_reduced_precision()))) {
    // libtorch 1.13's reduced-precision CPU convolution is a scalar loop (0.3 s for CLIP-L's patches,
    // 0.02 s in float32): convolve in float32 and round once, as its float accumulation would.
    patches = at::conv2d(x.to(at::kFloat), patch_weight_.to(at::kFloat), {}, {config_.patch_size, config_.patch_size}).to(dtype);
  } else {
    patches = at::conv2d(x, patch_weight_, {}, {config_.patch_size, config_.patch_size});
  }
  patches = patches.flatten(2).transpose(1, 2).squeeze(0);  // [patches, hidden]
  at::Tensor tokens = at::cat({class_embedding_.unsqueeze(0), patches}, 0);
  return tokens + position_embedding_;
}

// CLIPAttention: q is scaled before the product; softmax in the compute dtype.
at::Tensor ClipVisionTower::attention(const Layer& layer, const at::Tensor& x) const {
  const int64_t n = x.size(0), heads = config_.num_attention_heads, hd = config_.hidden_size / heads;
  const double scale = std::pow(static_cast<double>(hd), -0.5);
  auto split = [&](const at::Tensor& t) { return t.view({n, heads, hd}).transpose(0, 1); };  // [heads, n, hd]
  at::Tensor q = split(layer.q(x) * scale), k = split(layer.k(x)), v = split(layer.v(x));
  at::Tensor weights = at::softmax(batched_matmul(q, k.transpose(1, 2)), -1);
  at::Tensor out = batched_matmul(weights, v).transpose(0, 1).reshape({n, config_.hidden_size});
  return layer.out(out);
}

at::Tensor ClipVisionTower::mlp(const Layer& layer, const at::Tensor& x) const {
  at::Tensor h = layer.fc1(x);
  h = config_.hidden_act == "quick_gelu" ? quick_gelu(h) : at::gelu(h);
  return layer.fc2(h);
}

at::Tensor ClipVisionTower::hidden_state(const at::Tensor& pixel_values, int index) const {
  at::Tensor h = pre_norm_(embed(pixel_values));  // hidden_states[0]
  for (int i = 0; i < index; ++i) {
    const Layer& layer = layers_[static_cast<size_t>(i)];
    h = h + attention(layer, layer.norm1(h));
    h = h + mlp(layer, layer.norm2(h));
  }
  return h;
}

}  // namespace lvlm
