#include "finite_guard.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "lvlm_probe/common.h"
#include "lvlm_probe/device_path.h"

namespace lvlm {
namespace {

std::string weights_of(const ModelInfo& info, int layer) {
  if (layer >= 0 && layer < static_cast<int>(info.layer_weights.size())) return info.layer_weights[layer];
  return "the weights of layer " + std::to_string(layer);
}

std::string overflow_hint(const ModelInfo& info) {
  return info.compute_dtype == "f32" ? "" : ", or an overflow in " + info.compute_dtype;
}

}  // namespace

std::vector<int64_t> FiniteGuard::positions_wanted(int64_t first, int64_t count) {
  ++step_;
  first_ = first;
  finite_.clear();
  inner_wanted_ = inner_ ? inner_->positions_wanted(first, count) : std::vector<int64_t>{};
  inner_rows_.clear();
  for (int64_t p : inner_wanted_) inner_rows_.push_back(p - first);
  std::vector<int64_t> all(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) all[static_cast<size_t>(i)] = first + i;
  return all;
}

void FiniteGuard::on_residual(const std::string& tap, int layer, const std::vector<int64_t>& /*all of them*/,
                              const at::Tensor& hidden) {
  finite_.push_back(at::isfinite(hidden).all(-1));
  if (layer == info_.num_layers) check_pass();
  if (!inner_ || inner_wanted_.empty()) return;
  inner_->on_residual(tap, layer, inner_wanted_, take_rows(hidden, inner_rows_, SyncSite::guard));
}

void FiniteGuard::check_pass() const {
  // [L+1, positions] flags: one host sync per forward pass, then plain reads.
  const at::Tensor finite = to_host(at::stack(finite_), SyncSite::guard).contiguous();
  const bool* ok = finite.data_ptr<bool>();
  const int64_t count = finite.numel(), positions = finite.size(1);
  const int64_t first_bad = std::find(ok, ok + count, false) - ok;
  if (first_bad == count) return;
  const int layer = static_cast<int>(first_bad / positions);
  const int64_t position = first_ + first_bad % positions;
  throw InputError(info_.path, "non-finite values (NaN or Inf) first appear in the hidden state of layer " +
                                   std::to_string(layer) + " at step " + std::to_string(step_) + " (position " +
                                   std::to_string(position) + "), made by " + weights_of(info_, layer) +
                                   ": a NaN or Inf weight there" + overflow_hint(info_));
}

void FiniteGuard::on_token(int step, int token_id) {
  if (inner_) inner_->on_token(step, token_id);
}

at::Tensor FiniteGuard::output_logits() { return inner_ ? inner_->output_logits() : at::Tensor(); }

void check_lens_finite(const std::vector<TokenTrace>& tokens, const ModelInfo& info) {
  for (const TokenTrace& t : tokens)
    for (size_t l = 0; l < t.entropy.size(); ++l) {
      // (The fused softmax turns a NaN row into NaN probabilities but may leave its entropy finite.)
      const bool finite = std::isfinite(t.entropy[l]) && std::isfinite(t.d_final[l]) &&
                          (l == 0 || std::isfinite(t.d_prev[l])) && (t.token_id < 0 || std::isfinite(t.p_token[l]));
      if (!finite)
        throw InputError(info.path, "the lens distribution of layer " + std::to_string(l) + " at step " +
                                        std::to_string(t.step) + " is not finite although its hidden state is: made by " +
                                        info.head_weights + ": a NaN or Inf weight there" + overflow_hint(info));
    }
}

}  // namespace lvlm
