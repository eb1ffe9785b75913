// The LLaMA-style decoder as transformers 4.40's LlamaModel computes it (eager attention), shared
// by families: RMSNorm, rotary positions, grouped-query attention (q/k/v biases optional, as
// Qwen2's) with a preallocated KV cache, SwiGLU MLP. The caller hands in the rotary cos/sin of the
// positions it runs, so 1-D RoPE and M-RoPE both fit. The residual stream after every block is
// handed to the observer; blocks can be replaced by identity.
#pragma once

#include <vector>

#include "block_configs.h"
#include "layers.h"
#include "lvlm_probe/models.h"

namespace lvlm {

class Decoder {
 public:
  // Weights named by block_tensors.h under `prefix` ("language_model.model.").
  Decoder(WeightLoader& w, const std::string& prefix, const TextConfig& config);

  at::Tensor embed(const at::Tensor& ids) const;  // [S] int64 -> [S, hidden]
  // The same from host ids; UsageError for an id outside the vocabulary.
  at::Tensor embed_ids(const std::vector<int>& ids) const;
  // Runs `embeddings` [S, hidden] into cache slots [cache->length, +S) (or [0, S) without a cache),
  // each attending to the slots before it. cos, sin: [S, head_dim] in the compute dtype, the rotary
  // angles of those S positions (Rope::cos_sin, or a family's M-RoPE). Returns the last block's
  // output [S, hidden] before the final norm.
  at::Tensor forward(const at::Tensor& embeddings, const at::Tensor& cos, const at::Tensor& sin, KVCache* cache,
                     const ForwardOptions& options) const;
  at::Tensor final_norm(const at::Tensor& h) const { return norm_(h); }
  KVCache new_cache(int64_t capacity) const;
  const at::Tensor& embedding_table() const { return embed_tokens_; }

 private:
  struct Block {
    RMSNorm input_norm, post_attention_norm;
    Linear q, k, v, o, gate, up, down;
  };
  at::Tensor attention(const Block& b, int index, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       int64_t start, KVCache* cache, HiddenStateObserver* observer) const;
  at::Tensor mlp(const Block& b, const at::Tensor& x) const;

  TextConfig config_;
  at::Tensor embed_tokens_;
  std::vector<Block> blocks_;
  RMSNorm norm_;
};

}  // namespace lvlm
