// The logit lens as a hidden-state observer: for every generated token it keeps the residual
// stream of layers 0..L at the predicting position and turns it into per-layer statistics in one
// batched computation per step ([L+1, hidden] -> [L+1, vocab], never positions x vocab).
// Optionally (`--positions all`) it also keeps every prompt position's residual streams during the
// prefill and measures them afterwards in chunks of positions, so that memory stays
// O(chunk x layers x vocab).
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
  bool keep_hidden = false;       // keep [L+1, hidden] float32 per token (for --dump-features)
  bool prompt_positions = false;  // keep every prompt position for measuring (--positions all|image)
  int64_t chunk_elements = 1 << 22;  // bound on layers x positions x vocab per prompt chunk
  bool fused_cpu = true;          // CPU: fused softmax/JS loops (cpu_softmax.h); false = ATen ops (tests;
                                  // --device cpu-generic turns them off for the whole process)
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
  at::Tensor output_logits() override;

  // With options.prompt_positions, after generation: one trace per prompt position p (step -1),
  // whose token is next_ids[p], the id at position p + 1 (-1 where that is an image feature: no
  // p_token or rank then). Frees the kept residual streams.
  std::vector<TokenTrace> prompt_statistics(const std::vector<int>& next_ids);
  // With options.prompt_positions, after generation and before prompt_statistics: one trace per
  // prompt position in `positions` (step -1, no token: --positions image), measured in the same
  // chunks. Keeps the residual streams.
  std::vector<TokenTrace> position_statistics(const std::vector<int64_t>& positions);

  const std::vector<TokenTrace>& traces() const { return traces_; }
  const std::vector<at::Tensor>& hidden() const { return hidden_; }  // per token [L+1, hidden] f32, on the device
  double seconds() const { return seconds_; }

 private:
  std::vector<TokenTrace> chunked_statistics(const std::vector<int64_t>& positions, const std::vector<int>& ids);

  const VisionLanguageModel& model_;
  LensOptions options_;
  at::Tensor stack_;         // [L+1, hidden], filled layer by layer during a forward pass
  at::Tensor logits_;        // [L+1, vocab] float32 of stack_, made when layer L arrives
  bool shares_output_ = false;  // logits_[L] is the model's output, bit for bit
  int64_t position_ = -1;    // position of the current stack
  bool prefill_done_ = false;
  at::Tensor prompt_;        // [L+1, prompt positions, hidden] with prompt_positions
  std::vector<TokenTrace> traces_;
  std::vector<at::Tensor> hidden_;
  double seconds_ = 0;
};

}  // namespace lvlm
