// LLaMA decoder as transformers 4.40's LlamaModel computes it (eager attention): RMSNorm, RoPE,
// grouped-query attention with a preallocated KV cache, SwiGLU MLP. The residual stream after
// every block is handed to the observer; blocks can be replaced by identity.
#pragma once

#include <vector>

#include "../layers.h"
#include "lvlm_probe/model_config.h"
#include "lvlm_probe/models.h"

namespace lvlm::llava {

class LlamaDecoder {
 public:
  LlamaDecoder(WeightLoader& w, const std::string& prefix, const TextConfig& config);

  at::Tensor embed(const at::Tensor& ids) const;  // [S] int64 -> [S, hidden]
  at::Tensor forward(const at::Tensor& embeddings, KVCache* cache, const ForwardOptions& options) const;
  at::Tensor final_norm(const at::Tensor& h) const { return norm_(h); }
  KVCache new_cache(int64_t capacity) const;
  const at::Tensor& embedding_table() const { return embed_tokens_; }

 private:
  struct Block {
    RMSNorm input_norm, post_attention_norm;
    Linear q, k, v, o, gate, up, down;
  };
  at::Tensor attention(const Block& b, int index, const at::Tensor& x, int64_t start, KVCache* cache,
                       HiddenStateObserver* observer) const;
  at::Tensor mlp(const Block& b, const at::Tensor& x) const;

  TextConfig config_;
  at::Tensor embed_tokens_;
  std::vector<Block> blocks_;
  RMSNorm norm_;
  Rope rope_;
};

}  // namespace lvlm::llava
