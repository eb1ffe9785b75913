// Attention to the image: for the predicting position of every generated token, per decoder layer
// and query head, how much attention weight goes to BOS (position 0, the attention sink), the image
// features, the rest of the prompt and the generated tokens. Computed here from the queries and
// keys the decoder hands to the observer (HiddenStateObserver::on_attention), never from the
// model's own attention output: softmax(q kᵀ / sqrt(head_dim)) over keys 0..p, as transformers'
// eager attention (LlamaAttention, output_attentions=True). Per layer one [heads, p + 1] row.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "lvlm_probe/models.h"
#include "lvlm_probe/trace.h"

namespace lvlm {

// The attention weights of the query at absolute position `query` (within [first, first + S)):
// queries [heads, S, head_dim], keys [kv_heads, T, head_dim] with T > query; query head h reads key
// head h / (heads / kv_heads). Returns [heads, query + 1] float64 (keys after the query are masked).
at::Tensor attention_row(const at::Tensor& queries, int64_t first, const at::Tensor& keys, int64_t query);

// Key position -> group (0 bos, 1 image, 2 prompt, 3 generated) as a [keys, 4] float64 one-hot
// matrix: weights [heads, keys] x groups = per-head masses [heads, 4].
at::Tensor key_groups(int64_t keys, int64_t prompt_length, const std::vector<int64_t>& image_positions);

// Passes every call on to `inner` (may be null) and measures the attention shares of the
// predicting position of each forward pass; on_token files them under that token.
class AttentionProbe : public HiddenStateObserver {
 public:
  explicit AttentionProbe(HiddenStateObserver* inner) : inner_(inner) {}

  std::vector<int64_t> positions_wanted(int64_t first, int64_t count) override;
  void on_residual(const std::string& tap, int layer, const std::vector<int64_t>& positions,
                   const at::Tensor& hidden) override;
  void on_token(int step, int token_id) override;
  at::Tensor output_logits() override;
  void on_prompt(int64_t length, const std::vector<int64_t>& image_positions) override;
  bool wants_attention() const override { return true; }
  void on_attention(int layer, int64_t first, const at::Tensor& queries, const at::Tensor& keys) override;

  // One list per generated token, one entry per layer that ran.
  const std::vector<std::vector<AttentionShares>>& shares() const { return shares_; }
  double seconds() const { return seconds_; }

 private:
  HiddenStateObserver* inner_;
  int64_t prompt_length_ = 0;
  std::vector<int64_t> image_positions_;
  int64_t query_ = -1;              // the predicting position of the current pass
  at::Tensor groups_;               // key_groups for query_ + 1 keys, on the model's device
  std::vector<int> layers_;         // layers measured in the current pass
  std::vector<at::Tensor> masses_;  // their [heads, 4] masses
  std::vector<std::vector<AttentionShares>> shares_;
  double seconds_ = 0;
};

}  // namespace lvlm
