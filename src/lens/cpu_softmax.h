// The lens's vocabulary-wide passes on the CPU as fused loops: ATen runs softmax, p log p and the
// mixture's m log m as separate double-precision passes (a dozen allocations and sweeps over
// [L+1, vocab] per step, most of the lens's time); here each row is swept twice and each pair
// once, with glibc's vectorised exp and log (libmvec, < 4 ulp). Same float64 arithmetic, same
// formulas as the ATen path in lens.cc, which stays for other devices and CPUs without AVX2.
#pragma once

#include <cstdint>

namespace lvlm {

// True when the fused loops run here (x86-64 with AVX2 and FMA, glibc's libmvec linked in).
bool fused_softmax_available();

// For each of `rows` rows of `vocab` float32 logits: p = softmax(x) in float64 and
// plogp = sum_v p log p (= -entropy; a p that underflowed to 0 adds 0).
void softmax_rows(const float* logits, int64_t rows, int64_t vocab, double* p, double* plogp);

// For each pair i: out[i] = sum_v m log m, m = (p[a[i]] + p[b[i]]) / 2, rows of `p` [rows, vocab]
// (0 log 0 = 0).
void mixture_m_log_m(const double* p, int64_t vocab, const int64_t* a, const int64_t* b, int64_t pairs, double* out);

// For each of `rows` rows of `vocab` float32 logits, in one sweep: rank[r] = 1 + the number of
// logits above that of token tok[r], and the `k` largest logits' ids in top[r * k ...], largest
// first, equal logits in vocabulary order (ATen's topk leaves their order unspecified).
void rank_and_top_k(const float* logits, int64_t rows, int64_t vocab, const int64_t* tok, int64_t k, int64_t* rank,
                    int64_t* top);

}  // namespace lvlm
