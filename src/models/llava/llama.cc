#include "llama.h"

#include <cmath>
#include <limits>
#include <vector>

#include "lvlm_probe/device_path.h"

namespace lvlm::llava {

LlamaDecoder::LlamaDecoder(WeightLoader& w, const std::string& prefix, const TextConfig& c) : config_(c) {
  const int64_t d = c.hidden_size, q_dim = int64_t(c.num_attention_heads) * c.head_dim,
                kv_dim = int64_t(c.num_key_value_heads) * c.head_dim, ff = c.intermediate_size;
  embed_tokens_ = w.get(prefix + "embed_tokens.weight", {c.vocab_size, d});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = prefix + "layers." + std::to_string(i) + ".";
    Block b;
    b.input_norm = RMSNorm::load(w, l + "input_layernorm", d, c.rms_norm_eps);
    b.post_attention_norm = RMSNorm::load(w, l + "post_attention_layernorm", d, c.rms_norm_eps);
    b.q = Linear::load(w, l + "self_attn.q_proj", q_dim, d, c.attention_bias);
    b.k = Linear::load(w, l + "self_attn.k_proj", kv_dim, d, c.attention_bias);
    b.v = Linear::load(w, l + "self_attn.v_proj", kv_dim, d, c.attention_bias);
    b.o = Linear::load(w, l + "self_attn.o_proj", d, q_dim, c.attention_bias);
    b.gate = Linear::load(w, l + "mlp.gate_proj", ff, d, c.mlp_bias);
    b.up = Linear::load(w, l + "mlp.up_proj", ff, d, c.mlp_bias);
    b.down = Linear::load(w, l + "mlp.down_proj", d, ff, c.mlp_bias);
    blocks_.push_back(std::move(b));
  }
  norm_ = RMSNorm::load(w, prefix + "norm", d, c.rms_norm_eps);
  rope_ = Rope::make(c.head_dim, c.rope_theta, c.rope_linear_factor, w.device());
}

at::Tensor LlamaDecoder::embed(const at::Tensor& ids) const {
  return at::embedding(embed_tokens_, to_device(ids, embed_tokens_.device(), SyncSite::decode));
}

KVCache LlamaDecoder::new_cache(int64_t capacity) const {
  KVCache cache;
  cache.capacity = capacity;
  auto options = embed_tokens_.options();
  for (size_t i = 0; i < blocks_.size(); ++i) {
    cache.keys.push_back(at::empty({config_.num_key_value_heads, capacity, config_.head_dim}, options));
    cache.values.push_back(at::empty({config_.num_key_value_heads, capacity, config_.head_dim}, options));
  }
  return cache;
}

// x: [S, hidden] at positions [start, start + S). Keys/values go into the cache (when given) and
// attention runs over everything cached so far. Grouped heads share a key/value head, which is
// what transformers' repeat_kv computes.
at::Tensor LlamaDecoder::attention(const Block& b, int index, const at::Tensor& x, int64_t start,
                                   KVCache* cache) const {
  const int64_t s = x.size(0), hd = config_.head_dim, nh = config_.num_attention_heads,
                nkv = config_.num_key_value_heads, group = nh / nkv;
  at::Tensor q = b.q(x).view({s, nh, hd}).transpose(0, 1);  // [nh, S, hd]
  at::Tensor k = b.k(x).view({s, nkv, hd}).transpose(0, 1);
  at::Tensor v = b.v(x).view({s, nkv, hd}).transpose(0, 1);
  auto [cos, sin] = rope_.cos_sin(start, s, x.scalar_type());
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);
  int64_t total = s;
  if (cache) {
    cache->keys[index].narrow(1, start, s).copy_(k);
    cache->values[index].narrow(1, start, s).copy_(v);
    total = start + s;
    k = cache->keys[index].narrow(1, 0, total);
    v = cache->values[index].narrow(1, 0, total);
  }
  // [nkv, group, S, hd] x [nkv, 1, hd, T]: each group of query heads against its key head.
  at::Tensor qg = q.reshape({nkv, group, s, hd});
  at::Tensor scores = batched_matmul(qg, k.unsqueeze(1).transpose(2, 3)) / std::sqrt(static_cast<double>(hd));
  if (s > 1) {
    // Causal mask: query i (absolute start + i) sees keys 0..start + i.
    at::Tensor allowed = at::ones({s, total}, x.options().dtype(at::kBool)).tril(total - s);
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  }
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(x.scalar_type());  // upcast as HF does
  at::Tensor out = batched_matmul(probs, v.unsqueeze(1));                          // [nkv, group, S, hd]
  out = out.reshape({nh, s, hd}).transpose(0, 1).reshape({s, nh * hd});
  return b.o(out);
}

at::Tensor LlamaDecoder::mlp(const Block& b, const at::Tensor& x) const {
  return b.down(at::silu(b.gate(x)) * b.up(x));
}

at::Tensor LlamaDecoder::forward(const at::Tensor& embeddings, KVCache* cache, const ForwardOptions& options) const {
  const int64_t s = embeddings.size(0), start = cache ? cache->length : 0;
  if (cache && start + s > cache->capacity)
    throw RuntimeFailure("KV cache of " + std::to_string(cache->capacity) + " positions is full");
  std::vector<int64_t> wanted, rows;
  if (options.observer) wanted = options.observer->positions_wanted(start, s);
  for (int64_t p : wanted) rows.push_back(p - start);
  auto report = [&](int layer, const at::Tensor& h) {
    if (!wanted.empty())
      options.observer->on_residual(resid_tap_name(layer), layer, wanted, take_rows(h, rows, SyncSite::decode));
  };
  at::Tensor h = embeddings;
  report(0, h);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (i < options.skip_block.size() && options.skip_block[i]) {
      report(static_cast<int>(i) + 1, h);  // identity: the residual passes through unchanged
      continue;
    }
    const Block& b = blocks_[i];
    h = h + attention(b, static_cast<int>(i), b.input_norm(h), start, cache);
    h = h + mlp(b, b.post_attention_norm(h));
    report(static_cast<int>(i) + 1, h);
  }
  if (cache) cache->length = start + s;
  return h;
}

}  // namespace lvlm::llava
