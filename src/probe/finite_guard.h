// Refuses non-finite numbers where they first appear, so that a NaN or Inf weight (or an overflow
// in reduced precision) ends the probe with a message naming the layer, the step and the weights
// that feed it, instead of a report of meaningless divergences. The model knows nothing of this:
// the guard is an observer wrapped around the one that probes.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "lvlm_probe/models.h"
#include "lvlm_probe/trace.h"

namespace lvlm {

// Passes every call on to `inner` (may be null) with the positions `inner` asked for, and checks
// the residual stream of every position at every layer: one isfinite per layer, one host
// transfer of [L+1, positions] flags per forward pass. InputError naming the model directory on
// the first non-finite value.
class FiniteGuard : public HiddenStateObserver {
 public:
  FiniteGuard(const ModelInfo& info, HiddenStateObserver* inner) : info_(info), inner_(inner) {}

  std::vector<int64_t> positions_wanted(int64_t first, int64_t count) override;
  void on_residual(const std::string& tap, int layer, const std::vector<int64_t>& positions,
                   const at::Tensor& hidden) override;
  void on_token(int step, int token_id) override;
  at::Tensor output_logits() override;
  void on_prompt(int64_t length, const std::vector<int64_t>& image_positions) override {
    if (inner_) inner_->on_prompt(length, image_positions);
  }
  bool wants_attention() const override { return inner_ && inner_->wants_attention(); }
  void on_attention(int layer, int64_t first, const at::Tensor& queries, const at::Tensor& keys) override {
    inner_->on_attention(layer, first, queries, keys);
  }

 private:
  void check_pass() const;

  const ModelInfo& info_;
  HiddenStateObserver* inner_;
  int step_ = -1;                    // forward passes so far - 1: the step each pass predicts
  int64_t first_ = 0;                // first position of the current pass
  std::vector<int64_t> inner_wanted_;
  std::vector<int64_t> inner_rows_;  // rows of inner_wanted_ within the pass
  std::vector<at::Tensor> finite_;   // per layer [positions] bool
};

// The lens' distributions of finite hidden states can still be non-finite: from the final norm or
// the LM head. InputError naming the model directory, the layer, the step and those weights.
void check_lens_finite(const std::vector<TokenTrace>& tokens, const ModelInfo& info);

}  // namespace lvlm
