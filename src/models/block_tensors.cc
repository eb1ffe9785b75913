#include "block_tensors.h"

namespace lvlm {
namespace {

struct SpecList {
  std::vector<TensorSpec> specs;
  void linear(const std::string& p, int64_t out, int64_t in, bool bias) {
    specs.push_back({p + ".weight", {out, in}, TensorInit::normal});
    if (bias) specs.push_back({p + ".bias", {out}, TensorInit::zeros});
  }
  void norm(const std::string& p, int64_t dim, bool bias) {
    specs.push_back({p + ".weight", {dim}, TensorInit::ones});
    if (bias) specs.push_back({p + ".bias", {dim}, TensorInit::zeros});
  }
};

}  // namespace

std::string decoder_layer_prefix(const std::string& prefix, int layer) {
  return prefix + "layers." + std::to_string(layer) + ".";
}

DecoderLayerNames decoder_layer_names(const std::string& prefix, int layer) {
  const std::string l = decoder_layer_prefix(prefix, layer);
  return {l + "input_layernorm", l + "post_attention_layernorm", l + "self_attn.q_proj", l + "self_attn.k_proj",
          l + "self_attn.v_proj", l + "self_attn.o_proj", l + "mlp.gate_proj", l + "mlp.up_proj", l + "mlp.down_proj"};
}

std::string decoder_embedding_name(const std::string& prefix) { return prefix + "embed_tokens.weight"; }
std::string decoder_norm_name(const std::string& prefix) { return prefix + "norm"; }

ClipEmbeddingNames clip_embedding_names(const std::string& prefix) {
  return {prefix + "embeddings.class_embedding", prefix + "embeddings.patch_embedding.weight",
          prefix + "embeddings.position_embedding.weight", prefix + "pre_layrnorm"};  // sic: transformers' spelling
}

std::string clip_layer_prefix(const std::string& prefix, int layer) {
  return clip_layers_prefix(prefix) + std::to_string(layer) + ".";
}

ClipLayerNames clip_layer_names(const std::string& prefix, int layer) {
  const std::string l = clip_layer_prefix(prefix, layer);
  return {l + "layer_norm1", l + "layer_norm2", l + "self_attn.q_proj", l + "self_attn.k_proj",
          l + "self_attn.v_proj", l + "self_attn.out_proj", l + "mlp.fc1", l + "mlp.fc2"};
}

std::string clip_layers_prefix(const std::string& prefix) { return prefix + "encoder.layers."; }
std::string clip_post_norm_name(const std::string& prefix) { return prefix + "post_layernorm"; }

std::vector<TensorSpec> decoder_tensors(const TextConfig& t, const std::string& prefix) {
  const int64_t d = t.hidden_size, ff = t.intermediate_size, q = int64_t(t.num_attention_heads) * t.head_dim,
                kv = int64_t(t.num_key_value_heads) * t.head_dim;
  const bool qkv_bias = t.attention_bias || t.qkv_bias;
  SpecList s;
  s.specs.push_back({decoder_embedding_name(prefix), {t.vocab_size, d}, TensorInit::normal});
  for (int i = 0; i < t.num_hidden_layers; ++i) {
    const DecoderLayerNames n = decoder_layer_names(prefix, i);
    s.linear(n.q, q, d, qkv_bias), s.linear(n.k, kv, d, qkv_bias), s.linear(n.v, kv, d, qkv_bias);
    s.linear(n.o, d, q, t.attention_bias);
    s.linear(n.gate, ff, d, t.mlp_bias), s.linear(n.up, ff, d, t.mlp_bias), s.linear(n.down, d, ff, t.mlp_bias);
    s.norm(n.input_norm, d, false), s.norm(n.post_attention_norm, d, false);
  }
  s.norm(decoder_norm_name(prefix), d, false);
  return s.specs;
}

std::vector<TensorSpec> clip_tensors(const VisionConfig& v, const std::string& prefix) {
  const int64_t d = v.hidden_size, ff = v.intermediate_size;
  SpecList s;
  const ClipEmbeddingNames e = clip_embedding_names(prefix);
  s.specs.push_back({e.class_embedding, {d}, TensorInit::normal});
  s.specs.push_back({e.patch_embedding, {d, v.num_channels, v.patch_size, v.patch_size}, TensorInit::normal});
  s.specs.push_back({e.position_embedding, {v.num_patches() + 1, d}, TensorInit::normal});
  s.norm(e.pre_norm, d, true);
  for (int i = 0; i < v.num_hidden_layers; ++i) {
    const ClipLayerNames n = clip_layer_names(prefix, i);
    s.linear(n.k, d, d, true), s.linear(n.v, d, d, true), s.linear(n.q, d, d, true), s.linear(n.out, d, d, true);
    s.norm(n.norm1, d, true);
    s.linear(n.fc1, ff, d, true), s.linear(n.fc2, d, ff, true);
    s.norm(n.norm2, d, true);
  }
  s.norm(clip_post_norm_name(prefix), d, true);
  return s.specs;
}

}  // namespace lvlm
