#include "cpu_matmul.h"

#include <ATen/ExpandUtils.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "lvlm_probe/device_path.h"

namespace lvlm {
namespace {

// Up to this many rows the AVX2 kernel beats OpenBLAS on this kind of machine (measured in
// docs/performance.md: 9 rows x 32064 x 512 takes 14 ms against 21 ms; 33 rows of a 7B model's
// LM head 141 ms against 173 ms, at 2 threads). Beyond it, OpenBLAS's packed kernels win.
constexpr int64_t kSkinnyMaxRows = 48;
// Rows of a reduced-precision weight widened at a time for a product of many rows: 512 x 4096 in
// float32 is 8 MiB.
constexpr int64_t kPanelRows = 512;

// --- The AVX2 kernel: out[m, n] = sum_k x[m, k] w[n, k] -----------------------------------------
// A tile is R rows of w against C rows of x: R * C accumulators of 8 lanes stay in registers, with
// the C vectors of x loaded once per step and each w vector (widened from bf16 or f16) once per C products:
// 4 x 3 fills the 16 registers exactly. x is small (<= 48 rows); every tile of x meets a block of
// 4 w rows chunk by chunk of K, so that the block's chunk, read from memory by the first tile, is
// in L1 for the others (at a 7B width a block of w rows is 64 KiB, twice L1: without chunks the
// later tiles read it from L2, and 9 rows x 32064 x 4096 ran at 32 against 43 GFLOP/s with them,
// 33 rows at 36 against 53, one thread of a Zen 3); a single tile (up to 3 rows) takes K in one
// pass. Accumulators wait in memory between chunks: every output is still one dot product in k
// order, whatever the number of rows.
// With several tiles, prefetching w two blocks ahead into L2 keeps the memory bus busy while the
// later tiles compute (9 rows x 32064 x 512, one thread, cold head: 8.9 ms without, 6.6 ms with
// it); decoding's one row is left to the hardware prefetcher (at 2 threads it streams the weights
// at 21-32 GB/s here, software prefetching at 21-28).
#define LVLM_AVX2 __attribute__((target("avx2,fma,f16c")))

constexpr int64_t kChunk = 256;                        // elements of K per chunk
constexpr int64_t kMaxTiles = (kSkinnyMaxRows + 2) / 3;  // tiles of x rows

// The weights' element types: float32, and the bits of bfloat16 and float16 (both widen exactly).
struct Bf16 {
  uint16_t bits;
};
struct Half {
  uint16_t bits;
};

LVLM_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
LVLM_AVX2 inline __m256 load8(const Bf16* p) {  // bfloat16 = the high half of a float32
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
LVLM_AVX2 inline __m256 load8(const Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline float widen(float v) { return v; }
inline float widen(Bf16 v) {
  const uint32_t bits = uint32_t(v.bits) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
LVLM_AVX2 inline float widen(Half v) { return _cvtsh_ss(v.bits); }

LVLM_AVX2 inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// acc[r * C + c] += w[r][k0, k1) . x[c][k0, k1), k1 - k0 a multiple of 8; `ahead` > 0 prefetches
// w that many elements on.
template <int R, int C, typename W>
LVLM_AVX2 void tile(const float* x, int64_t K, const W* const* wr, int64_t k0, int64_t k1, __m256* acc,
                    int64_t ahead) {
  __m256 a[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) a[r][c] = acc[r * C + c];
  constexpr int64_t per_line = 64 / sizeof(W);  // elements of w per cache line
  for (int64_t k = k0; k < k1; k += 8) {
    __m256 xv[C];
    for (int c = 0; c < C; ++c) xv[c] = _mm256_loadu_ps(x + c * K + k);
    if (ahead > 0 && k % per_line == 0)  // prefetch never faults, so the last blocks may look past w
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + ahead + k), _MM_HINT_T1);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = load8(wr[r] + k);
      for (int c = 0; c < C; ++c) a[r][c] = _mm256_fmadd_ps(wv, xv[c], a[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r * C + c] = a[r][c];
}

// out[m, n0 .. n0 + R) for every row m of x.
template <int R, typename W>
LVLM_AVX2 void block(const float* x, int64_t M, int64_t K, const W* w, int64_t n0, float* out, int64_t N) {
  const W* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = w + (n0 + r) * K;
  const int64_t K8 = K / 8 * 8, ahead = M > 1 ? 2 * R * K : 0;  // two blocks on
  __m256 acc[kMaxTiles * R * 3];
  std::fill_n(acc, (M + 2) / 3 * 3 * R, _mm256_setzero_ps());  // only the slots of M's tiles
  const int64_t chunk = M > 3 ? kChunk : K8;  // one tile reuses nothing: one pass
  for (int64_t k0 = 0; k0 < K8; k0 += chunk) {
    const int64_t k1 = std::min(K8, k0 + chunk);
    int64_t m = 0;
    for (; m + 3 <= M; m += 3) tile<R, 3>(x + m * K, K, wr, k0, k1, acc + m * R, m == 0 ? ahead : 0);
    if (M - m == 2) tile<R, 2>(x + m * K, K, wr, k0, k1, acc + m * R, m == 0 ? ahead : 0);
    if (M - m == 1) tile<R, 1>(x + m * K, K, wr, k0, k1, acc + m * R, 0);
  }
  for (int64_t m = 0; m < M; ++m) {
    const int64_t first = m / 3 * 3, C = std::min<int64_t>(3, M - first), c = m - first;
    for (int r = 0; r < R; ++r) {
      float s = horizontal_sum(acc[first * R + r * C + c]);
      for (int64_t t = K8; t < K; ++t) s += widen(wr[r][t]) * x[m * K + t];
      out[m * N + n0 + r] = s;
    }
  }
}

// Output columns [4 * first_block, 4 * end_block) (clipped to N) for every row of x.
template <typename W>
void skinny_blocks(const float* x, int64_t M, int64_t K, const W* w, int64_t N, float* out, int64_t first_block,
                   int64_t end_block) {
  for (int64_t b = first_block; b < end_block; ++b) {
    const int64_t n0 = 4 * b;
    if (n0 + 4 <= N) {
      block<4>(x, M, K, w, n0, out, N);
    } else {
      for (int64_t n = n0; n < N; ++n) block<1>(x, M, K, w, n, out, N);
    }
  }
}

// x [M, K] float32 contiguous, w [N, K] float32, bfloat16 or float16 contiguous -> out [M, N] float32.
void skinny_gemm(const at::Tensor& x, const at::Tensor& w, at::Tensor& out) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0), blocks = (N + 3) / 4;
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  // A chunk of at least ~64k multiply-adds, so that thread start-up stays small beside the work.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, 4 * K * M));
  at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    if (w.scalar_type() == at::kFloat)
      skinny_blocks(xp, M, K, w.data_ptr<float>(), N, op, begin, end);
    else if (w.scalar_type() == at::kBFloat16)
      skinny_blocks(xp, M, K, reinterpret_cast<const Bf16*>(w.data_ptr<at::BFloat16>()), N, op, begin, end);
    else
      skinny_blocks(xp, M, K, reinterpret_cast<const Half*>(w.data_ptr<at::Half>()), N, op, begin, end);
  });
}

bool skinny_fits(const at::Tensor& x2, const at::Tensor& w) { return linear_rows_independent(x2.size(0), w); }

// out = x b for x [M, K], b [K, N] (any strides), all float32: row blocks of x on ATen's threads,
// each through single-threaded OpenBLAS (configure_threads keeps OpenBLAS at one thread).
void blocked_mm(const at::Tensor& x, const at::Tensor& b, at::Tensor& out) {
  const int64_t M = x.size(0), threads = at::get_num_threads();
  if (threads == 1 || M < 16 * threads || at::in_parallel_region()) {
    at::mm_out(out, x, b);
    return;
  }
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r0 = M * t / threads, r1 = M * (t + 1) / threads;
      at::Tensor rows = out.narrow(0, r0, r1 - r0);
      at::mm_out(rows, x.narrow(0, r0, r1 - r0), b);
    }
  });
}

// out = x w^T for x [M, K] float32 and a bfloat16 or float16 w [N, K]: w widened to float32 a panel
// of rows at a time into a buffer each thread reuses, each panel multiplied by single-threaded BLAS.
// Widening the whole weight first wrote it to freshly mapped pages on every call, faulted in one by
// one: 112 ms of a 700 ms product at 711 x 4096 x 11008 (PyPI libtorch, 2 threads, Zen 3).
void widened_panels_mm(const at::Tensor& x, const at::Tensor& w, at::Tensor& out) {
  const int64_t N = w.size(0), K = w.size(1), panel_rows = std::min<int64_t>(kPanelRows, N);
  at::parallel_for(0, (N + panel_rows - 1) / panel_rows, 1, [&](int64_t begin, int64_t end) {
    at::Tensor buffer = at::empty({panel_rows, K}, x.options());
    for (int64_t p = begin; p < end; ++p) {
      const int64_t n0 = p * panel_rows, rows = std::min(panel_rows, N - n0);
      at::Tensor panel = buffer.narrow(0, 0, rows);
      panel.copy_(w.narrow(0, n0, rows));
      at::Tensor columns = out.narrow(1, n0, rows);
      at::mm_out(columns, x, panel.t());
    }
  });
}

bool g_fast_reduced = false;

// float16 always: libtorch 1.13 has no CPU float16 product at all ("addmm_impl_cpu_ not
// implemented for 'Half'"), so there is no libtorch result to stay equal to.
bool reduced_through_float(at::ScalarType dtype) {
  return dtype == at::kHalf || (dtype == at::kBFloat16 && g_fast_reduced);
}

}  // namespace

bool onednn_bf16_products() {
  static const bool available = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                                __builtin_cpu_supports("avx512dq");
  return available;
}

void set_fast_reduced_precision(bool fast) { g_fast_reduced = fast; }
bool fast_reduced_precision() { return g_fast_reduced; }

bool skinny_kernel_available() {
  static const bool available =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return available;
}

bool linear_rows_independent(int64_t rows, const at::Tensor& w) {
  return skinny_kernel_available() && cpu_kernels_for(w) && rows <= kSkinnyMaxRows && w.dim() == 2 &&
         w.is_contiguous() && (w.scalar_type() == at::kFloat || reduced_through_float(w.scalar_type()));
}

at::Tensor linear_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const at::ScalarType dtype = x.scalar_type();
  const bool reduced = reduced_through_float(dtype);
  if (!cpu_kernels_for(x) || (dtype != at::kFloat && !reduced)) return at::linear(x, weight, bias);
  const int64_t K = x.size(-1), N = weight.size(0);
  // Many bfloat16 rows (prefill, vision) where oneDNN takes them: its product already rounds once, and
  // widening the weight to float32 would run at the float32 peak instead.
  if (dtype == at::kBFloat16 && weight.scalar_type() == at::kBFloat16 && onednn_bf16_products() &&
      !linear_rows_independent(x.numel() / std::max<int64_t>(1, K), weight))
    return at::linear(x, weight, bias);
  at::Tensor x2 = x.reshape({-1, K}).to(at::kFloat).contiguous();
  at::Tensor out = at::empty({x2.size(0), N}, x2.options());
  if (skinny_fits(x2, weight)) {
    skinny_gemm(x2, weight, out);
  } else if (weight.scalar_type() == at::kFloat) {
    blocked_mm(x2, weight.t(), out);
  } else if (reduced) {
    widened_panels_mm(x2, weight, out);
  } else {
    return at::linear(x, weight, bias);
  }
  if (bias.defined()) out.add_(bias.to(at::kFloat));
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  return out.to(dtype).view(shape);
}

bool batched_matmul_by_libtorch(const at::Tensor& a, const at::Tensor& b) {
  const at::ScalarType dtype = a.scalar_type();
  if (!cpu_kernels_for(a) || a.dim() < 3 || b.dim() < 3 || dtype != b.scalar_type() ||
      (dtype != at::kFloat && !reduced_through_float(dtype)))
    return true;
  return dtype == at::kBFloat16 && a.size(-2) > kSkinnyMaxRows && onednn_bf16_products();  // as linear_forward
}

at::Tensor batched_matmul(const at::Tensor& a, const at::Tensor& b) {
  if (batched_matmul_by_libtorch(a, b)) return at::matmul(a, b);
  const at::ScalarType dtype = a.scalar_type();
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  std::vector<int64_t> batch = at::infer_size(a.sizes().slice(0, a.dim() - 2), b.sizes().slice(0, b.dim() - 2));
  auto shape_with = [&](int64_t r, int64_t c) {
    std::vector<int64_t> s = batch;
    s.push_back(r), s.push_back(c);
    return s;
  };
  // Broadcast views (no copies: a grouped key head serves its query heads through stride 0).
  at::Tensor a32 = a.to(at::kFloat).expand(shape_with(M, K)), b32 = b.to(at::kFloat).expand(shape_with(K, N));
  at::Tensor out = at::empty(shape_with(M, N), a32.options());
  const int64_t count = out.numel() / std::max<int64_t>(1, M * N);
  at::Tensor out3 = out.view({count, M, N});
  at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      at::Tensor ai = a32, bi = b32;
      for (int64_t d = static_cast<int64_t>(batch.size()) - 1, rest = i; d >= 0; --d) {
        ai = ai.select(d, rest % batch[d]);  // selecting from the last batch dim keeps earlier indices valid
        bi = bi.select(d, rest % batch[d]);
        rest /= batch[d];
      }
      at::Tensor oi = out3[i];
      at::mm_out(oi, ai, bi);
    }
  });
  return out.to(dtype);
}

}  // namespace lvlm
