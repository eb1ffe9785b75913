#include "lvlm_probe/attention.h"

#include <ATen/ATen.h>

#include <cmath>

#include "lvlm_probe/common.h"
#include "lvlm_probe/device_path.h"
#include "lvlm_probe/stopwatch.h"

namespace lvlm {

at::Tensor attention_row(const at::Tensor& queries, int64_t first, const at::Tensor& keys, int64_t query) {
  const int64_t heads = queries.size(0), kv_heads = keys.size(0), dim = queries.size(2);
  if (heads % kv_heads != 0 || query < first || query >= first + queries.size(1) || query >= keys.size(1))
    throw RuntimeFailure("attention: query position " + std::to_string(query) + " does not fit queries [" +
                         std::to_string(heads) + ", " + std::to_string(queries.size(1)) + "] from position " +
                         std::to_string(first) + " and " + std::to_string(keys.size(1)) + " keys of " +
                         std::to_string(kv_heads) + " heads");
  // Scores in float32 as transformers' eager attention computes them (its matmul, then / sqrt(d)),
  // softmax in float64: [kv_heads, group, 1, hd] x [kv_heads, 1, hd, query + 1].
  at::Tensor q = queries.select(1, query - first).to(at::kFloat).reshape({kv_heads, heads / kv_heads, 1, dim});
  at::Tensor k = keys.narrow(1, 0, query + 1).to(at::kFloat).unsqueeze(1).transpose(2, 3);
  at::Tensor scores = at::matmul(q, k).reshape({heads, query + 1}) / std::sqrt(static_cast<double>(dim));
  return at::softmax(scores.to(at::kDouble), -1);
}

at::Tensor key_groups(int64_t keys, int64_t prompt_length, const std::vector<int64_t>& image_positions) {
  at::Tensor groups = at::zeros({keys, 4}, at::kDouble);
  auto g = groups.accessor<double, 2>();
  for (int64_t p = 0; p < keys; ++p) g[p][p == 0 ? 0 : p < prompt_length ? 2 : 3] = 1;
  for (int64_t p : image_positions)
    if (p > 0 && p < keys) g[p][2] = 0, g[p][1] = 1;
  return groups;
}

std::vector<int64_t> AttentionProbe::positions_wanted(int64_t first, int64_t count) {
  query_ = first + count - 1;
  layers_.clear();
  masses_.clear();
  groups_ = key_groups(query_ + 1, prompt_length_, image_positions_);
  return inner_ ? inner_->positions_wanted(first, count) : std::vector<int64_t>{};
}

void AttentionProbe::on_residual(const std::string& tap, int layer, const std::vector<int64_t>& positions,
                                 const at::Tensor& hidden) {
  if (inner_) inner_->on_residual(tap, layer, positions, hidden);
}

at::Tensor AttentionProbe::output_logits() { return inner_ ? inner_->output_logits() : at::Tensor(); }

void AttentionProbe::on_prompt(int64_t length, const std::vector<int64_t>& image_positions) {
  prompt_length_ = length;
  image_positions_ = image_positions;
  if (inner_) inner_->on_prompt(length, image_positions);
}

void AttentionProbe::on_attention(int layer, int64_t first, const at::Tensor& queries, const at::Tensor& keys) {
  const Stopwatch clock;
  at::Tensor weights = attention_row(queries, first, keys, query_);
  if (groups_.device() != weights.device()) groups_ = to_device(groups_, weights.device(), SyncSite::attention);
  layers_.push_back(layer);
  masses_.push_back(at::matmul(weights, groups_));  // [heads, 4]
  seconds_ += clock.seconds();
  if (inner_ && inner_->wants_attention()) inner_->on_attention(layer, first, queries, keys);
}

void AttentionProbe::on_token(int step, int token_id) {
  std::vector<AttentionShares> token;
  if (!masses_.empty()) {
    const at::Tensor all = to_host(at::stack(masses_), SyncSite::attention).contiguous();  // [layers, heads, 4], one copy
    auto m = all.accessor<double, 3>();
    for (size_t i = 0; i < layers_.size(); ++i) {
      AttentionShares s;
      s.layer = layers_[i];
      for (int64_t h = 0; h < all.size(1); ++h) {
        s.bos.push_back(m[i][h][0]);
        s.image.push_back(m[i][h][1]);
        s.prompt.push_back(m[i][h][2]);
        s.generated.push_back(m[i][h][3]);
      }
      token.push_back(std::move(s));
    }
  }
  shares_.push_back(std::move(token));
  if (inner_) inner_->on_token(step, token_id);
}

}  // namespace lvlm
