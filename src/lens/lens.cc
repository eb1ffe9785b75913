#include "lvlm_probe/lens.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "divergence.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

at::Tensor divergence(Divergence d, const at::Tensor& p, const at::Tensor& q) {
  return d == Divergence::jsd ? js_divergence(p, q) : dola_divergence(p, q);
}

// The lens input per layer: final norm for every layer (norm), none (raw), or none but the last
// layer, which HF's output_hidden_states already returns normed (hf).
at::Tensor lens_input(const VisionLanguageModel& model, const at::Tensor& stack, LensMode mode) {
  if (mode == LensMode::norm) return model.final_norm(stack);
  if (mode == LensMode::raw) return stack;
  const int64_t last = stack.size(0) - 1;
  return at::cat({stack.narrow(0, 0, last), model.final_norm(stack.narrow(0, last, 1))}, 0);
}

std::vector<double> to_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

TokenTrace lens_statistics(const VisionLanguageModel& model, const at::Tensor& stack, int token_id,
                           const LensOptions& options) {
  const int64_t layers = stack.size(0), last = layers - 1;
  // Logits in the compute dtype as the model makes them; statistics in float64 from float32.
  at::Tensor logits = model.unembed(lens_input(model, stack, options.mode)).to(at::kFloat);
  at::Tensor logp = at::log_softmax(logits.to(at::kDouble), -1);  // [L+1, V]
  at::Tensor p = at::exp(logp);
  at::Tensor tok_logp = logp.select(1, token_id).unsqueeze(1);
  at::Tensor rank = (logp > tok_logp).sum(1) + 1;
  at::Tensor entropy = -at::where(p > 0, p * logp, at::zeros_like(p)).sum(1);
  at::Tensor d_prev = divergence(options.divergence, p.narrow(0, 0, last), p.narrow(0, 1, last));
  at::Tensor d_final = divergence(options.divergence, p, p.narrow(0, last, 1).expand_as(p));
  auto top = p.topk(std::min<int64_t>(options.top_k, p.size(1)), 1);

  // Features of the raw residual stream, float64.
  at::Tensor h = stack.to(at::kDouble);
  at::Tensor norms = h.norm(2, 1);
  at::Tensor cos_prev = at::cosine_similarity(h.narrow(0, 0, last), h.narrow(0, 1, last), 1);
  at::Tensor cos_final = at::cosine_similarity(h, h.narrow(0, last, 1).expand_as(h), 1);

  // One batch of device-to-host copies per step.
  at::Tensor packed = at::cat({p.select(1, token_id), rank.to(at::kDouble), entropy, d_prev, d_final, norms,
                               cos_prev, cos_final}).to(at::kCPU);
  std::vector<double> v = to_vector(packed);
  auto take = [&](int64_t offset, int64_t n) {
    return std::vector<double>(v.begin() + offset, v.begin() + offset + n);
  };
  TokenTrace t;
  t.token_id = token_id;
  const int64_t n = layers, m = last;
  t.p_token = take(0, n);
  for (double r : take(n, n)) t.rank.push_back(static_cast<int64_t>(r));
  t.entropy = take(2 * n, n);
  t.d_prev = take(3 * n, m);
  t.d_prev.insert(t.d_prev.begin(), kNaN);
  t.d_final = take(3 * n + m, n);
  t.h_norm = take(4 * n + m, n);
  t.cos_prev = take(5 * n + m, m);
  t.cos_prev.insert(t.cos_prev.begin(), kNaN);
  t.cos_final = take(5 * n + 2 * m, n);
  at::Tensor ids = std::get<1>(top).to(at::kCPU).contiguous();
  at::Tensor probs = std::get<0>(top).to(at::kCPU).contiguous();
  const int64_t k = ids.size(1);
  for (int64_t l = 0; l < n; ++l) {
    t.topk_ids.emplace_back(ids.data_ptr<int64_t>() + l * k, ids.data_ptr<int64_t>() + (l + 1) * k);
    t.topk_probs.emplace_back(probs.data_ptr<double>() + l * k, probs.data_ptr<double>() + (l + 1) * k);
  }
  return t;
}

LogitLens::LogitLens(const VisionLanguageModel& model, LensOptions options) : model_(model), options_(options) {
  if (options_.top_k < 1) throw UsageError("--top-k must be at least 1");
}

std::vector<int64_t> LogitLens::positions_wanted(int64_t first, int64_t count) {
  position_ = first + count - 1;  // the position that predicts the next token
  return {position_};
}

void LogitLens::on_residual(const std::string&, int layer, const std::vector<int64_t>&, const at::Tensor& hidden) {
  auto t0 = std::chrono::steady_clock::now();
  if (!stack_.defined()) stack_ = at::empty({model_.info().num_layers + 1, hidden.size(1)}, hidden.options());
  stack_.select(0, layer).copy_(hidden.select(0, 0));
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void LogitLens::on_token(int step, int token_id) {
  auto t0 = std::chrono::steady_clock::now();
  TokenTrace t = lens_statistics(model_, stack_, token_id, options_);
  t.step = step;
  t.position = position_;
  traces_.push_back(std::move(t));
  // copy: stack_ is reused by the next step, and .to() returns it unchanged when already f32 on CPU
  if (options_.keep_hidden) hidden_.push_back(stack_.to(at::kCPU, at::kFloat, /*non_blocking=*/false, /*copy=*/true));
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace lvlm
