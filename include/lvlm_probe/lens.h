// The logit lens as a hidden-state observer: for every generated token it keeps the residual
// stream of layers 0..L at the predicting position and turns it into per-layer statistics in one
// batched computation per step ([L+1, hidden] -> [L+1, vocab], never positions x vocab).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "lvlm_probe/models.h"
#include "lvlm_probe/trace.h"

namespace lvlm {

struct LensOptions {
  LensMode mode = LensMode::norm;
  Divergence divergence = Divergence::jsd;
  int top_k = 5;
  bool keep_hidden = false;  // keep [L+1, hidden] float32 per token (for --dump-features)
};

// Statistics of one token from its stacked residual streams `stack` [L+1, hidden].
TokenTrace lens_statistics(const VisionLanguageModel& model, const at::Tensor& stack, int token_id,
                           const LensOptions& options);

class LogitLens : public HiddenStateObserver {
 public:
  LogitLens(const VisionLanguageModel& model, LensOptions options);

  std::vector<int64_t> positions_wanted(int64_t first, int64_t count) override;
  void on_residual(const std::string& tap, int layer, const std::vector<int64_t>& positions,
                   const at::Tensor& hidden) override;
  void on_token(int step, int token_id) override;

  const std::vector<TokenTrace>& traces() const { return traces_; }
  const std::vector<at::Tensor>& hidden() const { return hidden_; }  // per token [L+1, hidden] f32
  double seconds() const { return seconds_; }

 private:
  const VisionLanguageModel& model_;
  LensOptions options_;
  at::Tensor stack_;         // [L+1, hidden], filled layer by layer during a forward pass
  int64_t position_ = -1;    // position of the current stack
  std::vector<TokenTrace> traces_;
  std::vector<at::Tensor> hidden_;
  double seconds_ = 0;
};

}  // namespace lvlm
