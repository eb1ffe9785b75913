#include "lvlm_probe/lens.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "cpu_softmax.h"
#include "divergence.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/device_path.h"
#include "lvlm_probe/stopwatch.h"

namespace lvlm {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The lens input per layer: final norm for every layer (norm), none (raw), or none but the last
// layer, which HF's output_hidden_states already returns normed (hf). `stack` is [L+1, C, hidden].
// Layer L is normed on its own: for one position that is exactly what greedy decoding normalises
// (the last position alone), so the lens' layer-L logits can stand in for the model's output.
at::Tensor lens_input(const VisionLanguageModel& model, const at::Tensor& stack, LensMode mode) {
  if (mode == LensMode::raw) return stack;
  const int64_t last = stack.size(0) - 1;
  at::Tensor below = stack.narrow(0, 0, last);
  return at::cat({mode == LensMode::norm ? model.final_norm(below) : below,
                  model.final_norm(stack.narrow(0, last, 1))}, 0);
}

// [L+1, C, hidden] -> [L+1, C, vocab] float32: one unembedding of all (L+1) C rows.
at::Tensor lens_logits(const VisionLanguageModel& model, const at::Tensor& stack, LensMode mode) {
  at::Tensor in = lens_input(model, stack, mode);
  at::Tensor logits = model.unembed(in.reshape({-1, in.size(-1)})).to(at::kFloat);
  return logits.view({stack.size(0), stack.size(1), logits.size(-1)});
}

// sum_v m log m with M = (P_a + P_b) / 2 for the row pairs of `p` [n, C, V] float64: a = l, b = l + 1
// (to_last false, l < n - 1) or b = n - 1 (to_last true, every l); [pairs, C]. 0 log 0 = 0: m = 0
// only where both underflowed, and 0 * log(tiny) is 0 (xlogy would say the same through a scalar
// log, several times slower than the vectorised one).
at::Tensor pair_m_log_m(const at::Tensor& p, bool to_last, bool fused) {
  const int64_t n = p.size(0), C = p.size(1), V = p.size(2), last = n - 1, rows = to_last ? n : last;
  if (!fused) {
    at::Tensor m = at::add(p.narrow(0, 0, rows), to_last ? p.narrow(0, last, 1) : p.narrow(0, 1, last)).mul_(0.5);
    return (m * m.clamp_min(std::numeric_limits<double>::denorm_min()).log_()).sum(-1);
  }
  std::vector<int64_t> a, b;
  for (int64_t l = 0; l < rows; ++l)
    for (int64_t c = 0; c < C; ++c) a.push_back(l * C + c), b.push_back((to_last ? last : l + 1) * C + c);
  at::Tensor out = at::empty({rows, C}, p.options());
  mixture_m_log_m(p.data_ptr<double>(), V, a.data(), b.data(), rows * C, out.data_ptr<double>());
  return out;
}

// JS(P_a, P_b) per row pair from s = sum_v p log p of each row (= -entropy, reported anyway):
// JS = H(M) - (H(P_a) + H(P_b)) / 2, natural log. This is the KL form of docs/report-schema.md regrouped so that
// a pair costs one logarithm (of M) instead of three; its round-off is of the same order (1e-15
// absolute, tested against the KL loop). Rows whose logits are equal get exactly 0, as the KL
// form gives them (a skipped layer passes its residual through unchanged).
at::Tensor js_rows(const at::Tensor& m_log_m, const at::Tensor& sa, const at::Tensor& sb, const at::Tensor& same) {
  at::Tensor js = (sa + sb).mul_(0.5) - m_log_m;
  return at::where(same, at::zeros_like(js), js.clamp_min_(0));
}

// Which rows of `x` [n, C, V] (contiguous) equal the one above them ([n - 1, C]) and the last
// layer's ([n, C]), bit for bit: a skipped layer hands on its residual unchanged.
std::pair<at::Tensor, at::Tensor> equal_rows(const at::Tensor& x) {
  const int64_t n = x.size(0), C = x.size(1), V = x.size(2);
  at::Tensor prev = at::empty({n - 1, C}, x.options().dtype(at::kBool)), final = at::empty({n, C}, prev.options());
  const float* v = x.data_ptr<float>();
  bool *to_prev = prev.data_ptr<bool>(), *to_final = final.data_ptr<bool>();
  auto same = [&](int64_t l, int64_t m, int64_t c) {
    return std::memcmp(v + (l * C + c) * V, v + (m * C + c) * V, sizeof(float) * static_cast<size_t>(V)) == 0;
  };
  for (int64_t l = 0; l < n; ++l)
    for (int64_t c = 0; c < C; ++c) {
      if (l > 0) to_prev[(l - 1) * C + c] = same(l - 1, l, c);
      to_final[l * C + c] = same(l, n - 1, c);
    }
  return {prev, final};
}

// Every layer's top-1 id as a competitor, at every layer: p [n, C, V] gathered at the top-1 ids
// `top1` [n, C] of each position; [n, C, n] (n = L + 1 candidates, never n x C x V more memory).
// Distinct ids are picked on the host afterwards (competitors_of), so the ids need not come back
// to the host before this gather: the lens costs one host sync per step (device_path.h).
at::Tensor candidate_probs(const at::Tensor& p, const at::Tensor& top1) {
  const int64_t n = p.size(0), C = p.size(1);
  return p.gather(-1, top1.t().unsqueeze(0).expand({n, C, n}));
}

// Per position c, the ids that are top-1 at some layer, in order of first appearance from layer 0,
// with their curves over the layers, from the host copies of the top-k ids [n, C, k] and of
// candidate_probs [n, C, n].
void competitors_of(const double* top_ids, int64_t k, const double* candidates, int64_t n, int64_t C, int64_t c,
                    TokenTrace& t) {
  for (int64_t j = 0; j < n; ++j) {
    const int id = static_cast<int>(top_ids[(j * C + c) * k]);
    if (std::find(t.competitor_ids.begin(), t.competitor_ids.end(), id) != t.competitor_ids.end()) continue;
    t.competitor_ids.push_back(id);
    std::vector<double> curve;
    for (int64_t l = 0; l < n; ++l) curve.push_back(candidates[(l * C + c) * n + j]);
    t.competitor_probs.push_back(std::move(curve));
  }
}

// The ids as a [C] tensor on `device` (-1, no token, as 0). One id (a generation step) is filled in
// on the device: a host-to-device copy would be a second host sync per step (device_path.h).
at::Tensor token_index(const std::vector<int>& ids, at::Device device) {
  const auto options = at::TensorOptions().dtype(at::kLong).device(device);
  if (ids.size() == 1) return at::full({1}, std::max(ids.front(), 0), options);
  std::vector<int64_t> wide;
  for (int id : ids) wide.push_back(std::max(id, 0));
  return to_device(at::tensor(wide, at::kLong), device, SyncSite::lens);
}

// Every statistic of C positions from their lens logits [L+1, C, V] (float32) and residual
// streams [L+1, C, hidden]; ids[c] is the token position c predicts (-1: none). Softmax,
// entropy and divergences in float64 from the float32 logits; rank and top-k from the float32
// logits themselves (the same order as the probabilities', at half the memory traffic).
std::vector<TokenTrace> statistics(const at::Tensor& logits, const at::Tensor& hidden, const std::vector<int>& ids,
                                   const LensOptions& o) {
  const int64_t n = logits.size(0), last = n - 1, C = logits.size(1);
  at::Tensor p, plogp;  // [n, C, V] and [n, C] float64; plogp = -entropy
  const bool fused = o.fused_cpu && cpu_kernels_for(logits) && fused_softmax_available();
  // What the fused loops read: at most one copy, shared by softmax, equal rows, rank and top-k.
  const at::Tensor x = fused ? logits.contiguous() : at::Tensor();
  if (fused) {
    p = at::empty(x.sizes(), x.options().dtype(at::kDouble));
    plogp = at::empty({n, C}, p.options());
    softmax_rows(x.data_ptr<float>(), n * C, x.size(2), p.data_ptr<double>(), plogp.data_ptr<double>());
  } else {
    at::Tensor logp = at::log_softmax(logits.to(at::kDouble), -1);
    p = logp.exp();
    plogp = (p * logp).sum(-1);  // logp is finite, so p = 0 adds 0
  }
  at::Tensor d_prev, d_final;
  const at::Tensor below = p.narrow(0, 0, last), above = p.narrow(0, 1, last), top = p.narrow(0, last, 1);
  if (o.divergence == Divergence::jsd) {
    at::Tensor same_prev, same_final;
    if (fused) {
      std::tie(same_prev, same_final) = equal_rows(x);
    } else {
      same_prev = at::eq(logits.narrow(0, 0, last), logits.narrow(0, 1, last)).all(-1);
      same_final = at::eq(logits, logits.narrow(0, last, 1)).all(-1);
    }
    d_prev = js_rows(pair_m_log_m(p, false, fused), plogp.narrow(0, 0, last), plogp.narrow(0, 1, last), same_prev);
    d_final = js_rows(pair_m_log_m(p, true, fused), plogp, plogp.narrow(0, last, 1), same_final);
  } else {
    d_prev = dola_divergence(below, above);
    d_final = dola_divergence(p, top.expand_as(p));
  }
  at::Tensor index = token_index(ids, logits.device()).view({1, C, 1}).expand({n, C, 1});
  const int64_t k_wanted = std::min<int64_t>(o.top_k, logits.size(-1));
  at::Tensor rank, top_ids;
  if (fused) {
    at::Tensor tok = index.contiguous();
    rank = at::empty({n, C}, tok.options());
    top_ids = at::empty({n, C, k_wanted}, tok.options());
    rank_and_top_k(x.data_ptr<float>(), n * C, x.size(2), tok.data_ptr<int64_t>(), k_wanted, rank.data_ptr<int64_t>(),
                   top_ids.data_ptr<int64_t>());
  } else {
    rank = at::gt(logits, logits.gather(-1, index)).sum(-1) + 1;
    top_ids = std::get<1>(logits.topk(k_wanted, -1));
  }
  at::Tensor p_token = p.gather(-1, index).squeeze(-1);
  at::Tensor top_probs = p.gather(-1, top_ids);
  at::Tensor candidates = candidate_probs(p, top_ids.select(-1, 0));

  at::Tensor h = hidden.to(at::kDouble);
  at::Tensor norms = h.norm(2, -1);
  at::Tensor cos_prev = at::cosine_similarity(h.narrow(0, 0, last), h.narrow(0, 1, last), -1);
  at::Tensor cos_final = at::cosine_similarity(h, h.narrow(0, last, 1).expand_as(h), -1);

  // One device-to-host copy per call.
  const at::Tensor all = at::cat({p_token.flatten(), rank.to(at::kDouble).flatten(), (-plogp).flatten(), d_prev.flatten(),
                                  d_final.flatten(), norms.flatten(), cos_prev.flatten(), cos_final.flatten(),
                                  top_ids.to(at::kDouble).flatten(), top_probs.flatten(), candidates.flatten()});
  const at::Tensor packed = to_host(all, SyncSite::lens).contiguous();
  const double* v = packed.data_ptr<double>();
  const int64_t k = top_ids.size(-1);
  std::vector<TokenTrace> traces(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    TokenTrace& t = traces[static_cast<size_t>(c)];
    t.token_id = ids[static_cast<size_t>(c)];
    const double* cursor = v;
    // Column c of a [rows, C] block, optionally preceded by a NaN (layer 0 of d_prev, cos_prev).
    auto column = [&](int64_t rows, bool lead_nan) {
      std::vector<double> out;
      if (lead_nan) out.push_back(kNaN);
      for (int64_t l = 0; l < rows; ++l) out.push_back(cursor[l * C + c]);
      cursor += rows * C;
      return out;
    };
    t.p_token = column(n, false);
    for (double r : column(n, false)) t.rank.push_back(static_cast<int64_t>(r));
    t.entropy = column(n, false);
    t.d_prev = column(last, true);
    t.d_final = column(n, false);
    t.h_norm = column(n, false);
    t.cos_prev = column(last, true);
    t.cos_final = column(n, false);
    for (int64_t l = 0; l < n; ++l) {
      const double* ids_at = cursor + (l * C + c) * k;
      const double* probs_at = cursor + n * C * k + (l * C + c) * k;
      t.topk_ids.emplace_back(ids_at, ids_at + k);
      t.topk_probs.emplace_back(probs_at, probs_at + k);
    }
    competitors_of(cursor, k, cursor + 2 * n * C * k, n, C, c, t);
    if (t.token_id < 0) {
      t.p_token.assign(static_cast<size_t>(n), kNaN);
      t.rank.assign(static_cast<size_t>(n), 0);
    }
  }
  return traces;
}

}  // namespace

TokenTrace lens_statistics(const VisionLanguageModel& model, const at::Tensor& stack, int token_id,
                           const LensOptions& options) {
  at::Tensor column = stack.unsqueeze(1);
  return statistics(lens_logits(model, column, options.mode), column, {token_id}, options).front();
}

LogitLens::LogitLens(const VisionLanguageModel& model, LensOptions options) : model_(model), options_(options) {
  if (options_.top_k < 1) throw UsageError("--top-k must be at least 1");
}

std::vector<int64_t> LogitLens::positions_wanted(int64_t first, int64_t count) {
  position_ = first + count - 1;  // the position that predicts the next token
  logits_ = at::Tensor();
  if (!options_.prompt_positions || prefill_done_) return {position_};
  std::vector<int64_t> all;
  for (int64_t p = first; p <= position_; ++p) all.push_back(p);
  return all;
}

void LogitLens::on_residual(const std::string&, int layer, const std::vector<int64_t>& positions, const at::Tensor& hidden) {
  const Stopwatch clock;
  const int num_layers = model_.info().num_layers;
  if (!stack_.defined()) stack_ = at::empty({num_layers + 1, hidden.size(1)}, hidden.options());
  stack_.select(0, layer).copy_(hidden.select(0, hidden.size(0) - 1));  // the last wanted = the predicting one
  if (positions.size() > 1) {
    if (!prompt_.defined()) prompt_ = at::empty({num_layers + 1, hidden.size(0), hidden.size(1)}, hidden.options());
    prompt_.select(0, layer).copy_(hidden);
  }
  if (layer == num_layers) {
    prefill_done_ = true;
    logits_ = lens_logits(model_, stack_.unsqueeze(1), options_.mode).squeeze(1);
    shares_output_ = options_.mode != LensMode::raw && model_.unembed_rows_independent(num_layers + 1);
  }
  seconds_ += clock.seconds();
}

at::Tensor LogitLens::output_logits() {
  if (!shares_output_ || !logits_.defined()) return {};
  return logits_.select(0, logits_.size(0) - 1);
}

void LogitLens::on_token(int step, int token_id) {
  const Stopwatch clock;
  if (!logits_.defined()) logits_ = lens_logits(model_, stack_.unsqueeze(1), options_.mode).squeeze(1);
  TokenTrace t = statistics(logits_.unsqueeze(1), stack_.unsqueeze(1), {token_id}, options_).front();
  t.step = step;
  t.position = position_;
  traces_.push_back(std::move(t));
  // copy: stack_ is reused by the next step, and .to() returns it unchanged when already f32. It
  // stays on the device: the features' writer brings it to the host after decoding, not per step.
  if (options_.keep_hidden) hidden_.push_back(stack_.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true));
  seconds_ += clock.seconds();
}

std::vector<TokenTrace> LogitLens::prompt_statistics(const std::vector<int>& next_ids) {
  if (!prompt_.defined()) return {};
  const int64_t positions = prompt_.size(1);
  if (static_cast<int64_t>(next_ids.size()) != positions)
    throw RuntimeFailure("lens: " + std::to_string(next_ids.size()) + " next ids for " + std::to_string(positions) +
                         " prompt positions");
  std::vector<int64_t> all(static_cast<size_t>(positions));
  for (int64_t p = 0; p < positions; ++p) all[static_cast<size_t>(p)] = p;
  std::vector<TokenTrace> out = chunked_statistics(all, next_ids);
  prompt_ = at::Tensor();
  return out;
}

std::vector<TokenTrace> LogitLens::position_statistics(const std::vector<int64_t>& positions) {
  if (!prompt_.defined()) return {};
  for (int64_t p : positions)
    if (p < 0 || p >= prompt_.size(1))
      throw RuntimeFailure("lens: position " + std::to_string(p) + " is outside the " +
                           std::to_string(prompt_.size(1)) + " kept prompt positions");
  return chunked_statistics(positions, std::vector<int>(positions.size(), -1));
}

// The kept prompt positions `positions` in chunks of at most chunk_elements / ((L+1) vocab)
// positions: [L+1, chunk, vocab] at a time, never all of them.
std::vector<TokenTrace> LogitLens::chunked_statistics(const std::vector<int64_t>& positions, const std::vector<int>& ids) {
  const Stopwatch clock;
  const int64_t count = static_cast<int64_t>(positions.size()), rows = prompt_.size(0);
  const int64_t chunk = std::max<int64_t>(1, options_.chunk_elements / (rows * model_.info().vocab_size));
  std::vector<TokenTrace> out;
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t n = std::min(chunk, count - first);
    const std::vector<int64_t> slice(positions.begin() + first, positions.begin() + first + n);
    at::Tensor h = prompt_.index_select(1, at::tensor(slice, at::kLong).to(prompt_.device()));
    std::vector<int> chunk_ids(ids.begin() + first, ids.begin() + first + n);
    std::vector<TokenTrace> traces = statistics(lens_logits(model_, h, options_.mode), h, chunk_ids, options_);
    for (int64_t i = 0; i < n; ++i) {
      traces[static_cast<size_t>(i)].step = -1;
      traces[static_cast<size_t>(i)].position = slice[static_cast<size_t>(i)];
      out.push_back(std::move(traces[static_cast<size_t>(i)]));
    }
  }
  seconds_ += clock.seconds();
  return out;
}

}  // namespace lvlm
