#include "decoder.h"

#include <cmath>
#include <limits>
#include <vector>

#include "lvlm_probe/common.h"
#include "lvlm_probe/device_path.h"

#include "block_tensors.h"

namespace lvlm {

Decoder::Decoder(WeightLoader& w, const std::string& prefix, const TextConfig& c) : config_(c) {
  const int64_t d = c.hidden_size, q_dim = int64_t(c.num_attention_heads) * c.head_dim,
                kv_dim = int64_t(c.num_key_value_heads) * c.head_dim, ff = c.intermediate_size;
  const bool qkv_bias = c.attention_bias || c.qkv_bias;
  embed_tokens_ = w.get(decoder_embedding_name(prefix), {c.vocab_size, d});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const DecoderLayerNames n = decoder_layer_names(prefix, i);
    Block b;
    b.input_norm = RMSNorm::load(w, n.input_norm, d, c.rms_norm_eps);
    b.post_attention_norm = RMSNorm::load(w, n.post_attention_norm, d, c.rms_norm_eps);
    b.q = Linear::load(w, n.q, q_dim, d, qkv_bias);
    b.k = Linear::load(w, n.k, kv_dim, d, qkv_bias);
    b.v = Linear::load(w, n.v, kv_dim, d, qkv_bias);
    b.o = Linear::load(w, n.o, d, q_dim, c.attention_bias);
    b.gate = Linear::load(w, n.gate, ff, d, c.mlp_bias);
    b.up = Linear::load(w, n.up, ff, d, c.mlp_bias);
    b.down = Linear::load(w, n.down, d, ff, c.mlp_bias);
    blocks_.push_back(std::move(b));
  }
  norm_ = RMSNorm::load(w, decoder_norm_name(prefix), d, c.rms_norm_eps);
}

at::Tensor Decoder::embed(const at::Tensor& ids) const {
  return at::embedding(embed_tokens_, to_device(ids, embed_tokens_.device(), SyncSite::decode));
}

at::Tensor Decoder::embed_ids(const std::vector<int>& ids) const {
  for (int id : ids)
    if (id < 0 || id >= config_.vocab_size)
      throw UsageError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                       std::to_string(config_.vocab_size));
  std::vector<int64_t> wide(ids.begin(), ids.end());
  return embed(at::tensor(wide, at::TensorOptions().dtype(at::kLong)));
}

KVCache Decoder::new_cache(int64_t capacity) const {
  KVCache cache;
  cache.capacity = capacity;
  auto options = embed_tokens_.options();
  for (size_t i = 0; i < blocks_.size(); ++i) {
    cache.keys.push_back(at::empty({config_.num_key_value_heads, capacity, config_.head_dim}, options));
    cache.values.push_back(at::empty({config_.num_key_value_heads, capacity, config_.head_dim}, options));
  }
  return cache;
}

// x: [S, hidden] into slots [start, start + S), rotated by cos/sin [S, head_dim]. Keys/values go
// into the cache (when given) and attention runs over everything cached so far. Grouped heads share a key/value head, which is
// what transformers' repeat_kv computes.
at::Tensor Decoder::attention(const Block& b, int index, const at::Tensor& x, const at::Tensor& cos,
                              const at::Tensor& sin, int64_t start, KVCache* cache,
                              HiddenStateObserver* observer) const {
  const int64_t s = x.size(0), hd = config_.head_dim, nh = config_.num_attention_heads,
                nkv = config_.num_key_value_heads, group = nh / nkv;
  at::Tensor q = b.q(x).view({s, nh, hd}).transpose(0, 1);  // [nh, S, hd]
  at::Tensor k = b.k(x).view({s, nkv, hd}).transpose(0, 1);
  at::Tensor v = b.v(x).view({s, nkv, hd}).transpose(0, 1);
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
  // Cache views skip the unused slots between heads. libtorch's matmul copies such a view itself, by
  // a slower path: at 640 positions, 32 heads in bfloat16, 2.4 ms per layer against 1.0 ms with this
  // copy, the layout transformers' cache concatenation gives. Same bits.
  if (cache && batched_matmul_by_libtorch(qg, k.unsqueeze(1))) {
    k = k.contiguous();
    v = v.contiguous();
  }
  if (observer && observer->wants_attention()) observer->on_attention(index + 1, start, q, k);
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

at::Tensor Decoder::mlp(const Block& b, const at::Tensor& x) const {
  return b.down(at::silu(b.gate(x)) * b.up(x));
}

at::Tensor Decoder::forward(const at::Tensor& embeddings, const at::Tensor& cos, const at::Tensor& sin, KVCache* cache,
                            const ForwardOptions& options) const {
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
    h = h + attention(b, static_cast<int>(i), b.input_norm(h), cos, sin, start, cache, options.observer);
    h = h + mlp(b, b.post_attention_norm(h));
    report(static_cast<int>(i) + 1, h);
  }
  if (cache) cache->length = start + s;
  return h;
}

}  // namespace lvlm
