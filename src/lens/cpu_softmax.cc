#include "cpu_softmax.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__) && defined(LVLM_HAVE_LIBMVEC)
#include <immintrin.h>
#define LVLM_FUSED 1
#define LVLM_AVX2 __attribute__((target("avx2,fma")))
// glibc's AVX2 variants of exp and log on 4 doubles (the vector ABI names GCC itself emits for
// `#pragma omp simd` loops under -ffast-math; called directly so that no other math is relaxed).
extern "C" LVLM_AVX2 __m256d _ZGVdN4v_exp(__m256d);
extern "C" LVLM_AVX2 __m256d _ZGVdN4v_log(__m256d);
#else
#define LVLM_FUSED 0
#endif

namespace lvlm {
namespace {

#if LVLM_FUSED
LVLM_AVX2 inline double horizontal_sum(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

LVLM_AVX2 void softmax_row(const float* x, int64_t vocab, double* p, double* plogp) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t v = 0; v < vocab; ++v) max = std::max(max, x[v]);
  // e = exp(x - max) into p, and its sum.
  const __m256d shift = _mm256_set1_pd(max);
  __m256d acc = _mm256_setzero_pd();
  int64_t v = 0;
  for (; v + 4 <= vocab; v += 4) {
    const __m256d e = _ZGVdN4v_exp(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + v)), shift));
    _mm256_storeu_pd(p + v, e);
    acc = _mm256_add_pd(acc, e);
  }
  double sum = horizontal_sum(acc);
  for (; v < vocab; ++v) sum += p[v] = std::exp(double(x[v]) - max);
  // p = e / sum; p log p = p (x - max - log sum), left out where p is 0.
  const double log_sum = std::log(sum);
  const __m256d inv = _mm256_set1_pd(1.0 / sum), offset = _mm256_set1_pd(double(max) + log_sum),
                zero = _mm256_setzero_pd();
  acc = zero;
  for (v = 0; v + 4 <= vocab; v += 4) {
    const __m256d pv = _mm256_mul_pd(_mm256_loadu_pd(p + v), inv);
    _mm256_storeu_pd(p + v, pv);
    const __m256d logp = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + v)), offset);
    const __m256d term = _mm256_and_pd(_mm256_mul_pd(pv, logp), _mm256_cmp_pd(pv, zero, _CMP_GT_OQ));
    acc = _mm256_add_pd(acc, term);
  }
  double s = horizontal_sum(acc);
  for (; v < vocab; ++v) {
    p[v] /= sum;
    if (p[v] > 0) s += p[v] * (double(x[v]) - max - log_sum);
  }
  *plogp = s;
}

LVLM_AVX2 double m_log_m(const double* a, const double* b, int64_t vocab) {
  // log of max(m, smallest denormal): m = 0 only where both underflowed, and 0 * log(tiny) is 0.
  const __m256d half = _mm256_set1_pd(0.5), tiny = _mm256_set1_pd(std::numeric_limits<double>::denorm_min());
  __m256d acc = _mm256_setzero_pd();
  int64_t v = 0;
  for (; v + 4 <= vocab; v += 4) {
    const __m256d m = _mm256_mul_pd(_mm256_add_pd(_mm256_loadu_pd(a + v), _mm256_loadu_pd(b + v)), half);
    acc = _mm256_fmadd_pd(m, _ZGVdN4v_log(_mm256_max_pd(m, tiny)), acc);
  }
  double s = horizontal_sum(acc);
  for (; v < vocab; ++v) {
    const double m = (a[v] + b[v]) * 0.5;
    s += m * std::log(std::max(m, std::numeric_limits<double>::denorm_min()));
  }
  return s;
}
#endif

// One row: counting is a compare-and-add the compiler vectorises; the top k mostly cost one
// compare per logit against the current k-th.
void rank_and_top_k_row(const float* x, int64_t vocab, int64_t tok, int64_t k, int64_t* rank, int64_t* top) {
  const float t = x[tok];
  int64_t above = 0;
  for (int64_t v = 0; v < vocab; ++v) above += x[v] > t;
  *rank = above + 1;
  std::vector<float> best(static_cast<size_t>(k));
  int64_t filled = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    if (filled == k && !(x[v] > best[static_cast<size_t>(k - 1)])) continue;
    size_t j = static_cast<size_t>(filled < k ? filled++ : k - 1);
    for (; j > 0 && x[v] > best[j - 1]; --j) {  // strictly greater moves up: equal ones keep id order
      best[j] = best[j - 1];
      top[j] = top[j - 1];
    }
    best[j] = x[v];
    top[j] = v;
  }
}

}  // namespace

void rank_and_top_k(const float* logits, int64_t rows, int64_t vocab, const int64_t* tok, int64_t k, int64_t* rank,
                    int64_t* top) {
  if (k < 1 || k > vocab) throw std::invalid_argument("rank_and_top_k: k must be in 1..vocab");
  for (int64_t r = 0; r < rows; ++r)
    if (tok[r] < 0 || tok[r] >= vocab) throw std::invalid_argument("rank_and_top_k: token id outside the vocabulary");
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) rank_and_top_k_row(logits + r * vocab, vocab, tok[r], k, rank + r, top + r * k);
  });
}

bool fused_softmax_available() {
#if LVLM_FUSED
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
#else
  return false;
#endif
}

void softmax_rows(const float* logits, int64_t rows, int64_t vocab, double* p, double* plogp) {
#if LVLM_FUSED
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) softmax_row(logits + r * vocab, vocab, p + r * vocab, plogp + r);
  });
#else
  (void)logits, (void)rows, (void)vocab, (void)p, (void)plogp;
  throw std::logic_error("softmax_rows: no fused CPU path in this build (check fused_softmax_available())");
#endif
}

void mixture_m_log_m(const double* p, int64_t vocab, const int64_t* a, const int64_t* b, int64_t pairs, double* out) {
#if LVLM_FUSED
  at::parallel_for(0, pairs, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = m_log_m(p + a[i] * vocab, p + b[i] * vocab, vocab);
  });
#else
  (void)p, (void)vocab, (void)a, (void)b, (void)pairs, (void)out;
  throw std::logic_error("mixture_m_log_m: no fused CPU path in this build (check fused_softmax_available())");
#endif
}

}  // namespace lvlm
