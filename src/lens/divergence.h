// Divergences between distributions over the vocabulary, batched over rows: float64
// probabilities and log-probabilities in, one value per row out. Shared by the lens and its
// tests (which hold them against hand-computed values and a plain loop).
#pragma once

#include <ATen/ATen.h>

namespace lvlm {

// Both take probabilities only and recompute their logarithms: for P == Q, M = (P + P) / 2 == P
// bit for bit, so log M == log P and the divergence is exactly 0 (log(exp(log_softmax))) would
// leave round-off of either sign). 0 log 0 = 0.

// sum_v P log(P / M) over the last dimension.
inline at::Tensor kl_to(const at::Tensor& p, const at::Tensor& logm) {
  return at::where(p > 0, p * (at::log(p) - logm), at::zeros_like(p)).sum(-1);
}

// JS(P, Q) = 1/2 KL(P||M) + 1/2 KL(Q||M), M = (P + Q) / 2, natural log, in [0, ln 2].
inline at::Tensor js_divergence(const at::Tensor& p, const at::Tensor& q) {
  at::Tensor logm = at::log((p + q) * 0.5);
  return 0.5 * (kl_to(p, logm) + kl_to(q, logm));
}

// What DoLa's public code computes and the paper's heatmap script uses:
// 1/2 [mean_v M (log M - log P) + mean_v M (log M - log Q)] (F.kl_div(log P, M).mean(-1)).
inline at::Tensor dola_divergence(const at::Tensor& p, const at::Tensor& q) {
  at::Tensor m = (p + q) * 0.5;
  at::Tensor logm = at::log(m);
  auto kl = [&](const at::Tensor& x) { return at::where(m > 0, m * (logm - at::log(x)), at::zeros_like(m)).mean(-1); };
  return 0.5 * (kl(p) + kl(q));
}

}  // namespace lvlm
