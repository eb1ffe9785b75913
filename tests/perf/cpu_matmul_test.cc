// The CPU matmul paths (src/models/cpu_matmul.cc) against float64 products, over the shapes that
// take each path: the AVX2 kernel (<= 48 rows, tails in every dimension), row blocks through
// OpenBLAS, bf16/f16 through float32 (--reduced-math fast) or libtorch's own kernels (exact, the
// default), and broadcast batch dimensions.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "models/cpu_matmul.h"
#include "test_util.h"

namespace lvlm {
namespace {

// Largest |got - want| relative to the largest |want|, want computed in float64 from the same inputs.
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want).abs().max().item<double>() / std::max(1e-30, want.abs().max().item<double>());
}

// Restores ATen's thread count when a test changes it.
struct ThreadsGuard {
  int before = at::get_num_threads();
  ~ThreadsGuard() { at::set_num_threads(before); }
};

// Turns on --reduced-math fast for one test.
struct FastReducedGuard {
  FastReducedGuard() { set_fast_reduced_precision(true); }
  ~FastReducedGuard() { set_fast_reduced_precision(false); }
};

TEST(CpuLinear, MatchesFloat64OnEveryPath) {
  ThreadsGuard guard;
  FastReducedGuard fast;
  at::manual_seed(1);
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    for (int64_t m : {1, 2, 3, 4, 5, 9, 33, 48, 49, 130})
      for (int64_t k : {1, 8, 13, 64, 300})  // 300: the kernel's chunks of 256, and a tail
        for (int64_t n : {1, 3, 4, 7, 33}) {
          SCOPED_TRACE("threads " + std::to_string(threads) + " m " + std::to_string(m) + " k " + std::to_string(k) +
                       " n " + std::to_string(n));
          at::Tensor x = at::randn({m, k}), w = at::randn({n, k}), b = at::randn({n});
          at::Tensor want = at::linear(x.to(at::kDouble), w.to(at::kDouble), b.to(at::kDouble));
          at::Tensor got = linear_forward(x, w, b);
          ASSERT_EQ(got.sizes(), want.sizes());
          EXPECT_LT(relative_error(got, want), 1e-5);  // float32 accumulation over k <= 300
          // bfloat16 weights and activations: float accumulation, one rounding (2^-8 relative).
          at::Tensor xb = x.to(at::kBFloat16), wb = w.to(at::kBFloat16), bb = b.to(at::kBFloat16);
          at::Tensor want_b = at::linear(xb.to(at::kDouble), wb.to(at::kDouble), bb.to(at::kDouble));
          at::Tensor got_b = linear_forward(xb, wb, bb);
          EXPECT_EQ(got_b.scalar_type(), at::kBFloat16);
          EXPECT_LT(relative_error(got_b, want_b), 1e-2);
          at::Tensor got_h = linear_forward(x.to(at::kHalf), w.to(at::kHalf));
          EXPECT_EQ(got_h.scalar_type(), at::kHalf);
          EXPECT_LT(relative_error(got_h, at::linear(x.to(at::kHalf).to(at::kDouble), w.to(at::kHalf).to(at::kDouble))),
                    2e-3);
        }
  }
}

// Many rows of a bfloat16 or float16 weight widen it a panel of 512 rows at a time: 1100 rows are
// two panels and a part, shared among the threads.
TEST(CpuLinear, ManyRowsWidenTheWeightPanelByPanel) {
  ThreadsGuard guard;
  FastReducedGuard fast;
  at::manual_seed(5);
  at::Tensor x = at::randn({60, 40}), w = at::randn({1100, 40});
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    for (auto dtype : {at::kBFloat16, at::kHalf}) {
      at::Tensor xr = x.to(dtype), wr = w.to(dtype);
      ASSERT_FALSE(linear_rows_independent(60, wr));
      at::Tensor got = linear_forward(xr, wr);
      EXPECT_EQ(got.scalar_type(), dtype);
      // float32 products rounded once: within the dtype's rounding of the float64 product.
      EXPECT_LT(relative_error(got, at::linear(xr.to(at::kDouble), wr.to(at::kDouble))), dtype == at::kHalf ? 2e-3 : 1e-2)
          << "threads " << threads << " " << dtype;
    }
  }
}

TEST(CpuLinear, KeepsLeadingDimensions) {
  at::Tensor x = at::randn({2, 3, 16}), w = at::randn({5, 16});
  EXPECT_EQ(linear_forward(x, w).sizes(), (std::vector<int64_t>{2, 3, 5}));
}

// The logit lens reuses its layer-L row as the model's output logits: that is only right when a
// row's result does not depend on the rows computed with it.
TEST(CpuLinear, RowsAreIndependentOnTheKernelPath) {
  if (!skinny_kernel_available()) GTEST_SKIP() << "no AVX2 on this CPU";
  FastReducedGuard fast;
  at::manual_seed(2);
  for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf})
    for (int64_t k : {200, 605}) {  // 605: several of the kernel's chunks of K, and a tail
      at::Tensor w = at::randn({101, k}).to(dtype), x = at::randn({33, k}).to(dtype);
      ASSERT_TRUE(linear_rows_independent(33, w));
      EXPECT_FALSE(linear_rows_independent(49, w));
      at::Tensor all = linear_forward(x, w);
      for (int64_t r : {0, 1, 31, 32})
        EXPECT_TRUE(at::equal(all[r].to(at::kFloat), linear_forward(x.narrow(0, r, 1), w)[0].to(at::kFloat)))
            << "row " << r << " k " << k << " " << dtype;
    }
}

// By default reduced precision is libtorch's, bit for bit: transformers on the same libtorch is the
// reference, and its bf16 products round differently from a float32 product rounded once.
TEST(CpuLinear, ReducedPrecisionIsLibtorchsByDefault) {
  ASSERT_FALSE(fast_reduced_precision());
  at::manual_seed(4);
  {
    const auto dtype = at::kBFloat16;  // float16 has no libtorch 1.13 CPU product: always through float32
    at::Tensor x = at::randn({9, 200}).to(dtype), w = at::randn({101, 200}).to(dtype);
    EXPECT_TRUE(at::equal(linear_forward(x, w), at::linear(x, w)));
    EXPECT_FALSE(linear_rows_independent(9, w));
    // float16 has no libtorch result to keep: the kernel takes its few rows in either mode.
    EXPECT_EQ(linear_rows_independent(9, w.to(at::kHalf)), skinny_kernel_available());
    at::Tensor q = at::randn({2, 3, 5, 8}).to(dtype), k = at::randn({2, 1, 8, 7}).to(dtype);
    EXPECT_TRUE(at::equal(batched_matmul(q, k), at::matmul(q, k)));
    EXPECT_TRUE(batched_matmul_by_libtorch(q, k));
  }
}

// The decoder copies strided cache views only for libtorch's matmul, so the answer must follow the
// routing: float32 and fast bf16 one-row products stay with the CPU kernels, exact bf16 does not.
TEST(CpuMatmul, SaysWhenLibtorchTakesTheProduct) {
  at::Tensor q = at::randn({2, 3, 1, 8}), k = at::randn({2, 1, 8, 7});
  EXPECT_FALSE(batched_matmul_by_libtorch(q, k));
  EXPECT_TRUE(batched_matmul_by_libtorch(q.to(at::kBFloat16), k.to(at::kBFloat16)));
  EXPECT_TRUE(batched_matmul_by_libtorch(q.to(at::kDouble), k.to(at::kDouble)));
  EXPECT_TRUE(batched_matmul_by_libtorch(q[0][0], k[0][0]));  // two dimensions: not a batch
  FastReducedGuard fast;
  EXPECT_FALSE(batched_matmul_by_libtorch(q.to(at::kBFloat16), k.to(at::kBFloat16)));
  EXPECT_FALSE(batched_matmul_by_libtorch(q.to(at::kHalf), k.to(at::kHalf)));
}

TEST(CpuMatmul, BroadcastBatchesLikeTorchMatmul) {
  ThreadsGuard guard;
  FastReducedGuard fast;
  at::manual_seed(3);
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    // Grouped-query attention's shapes: [kv, group, S, d] x [kv, 1, d, T]; S = 60: a prefill's many
    // rows, which bfloat16 leaves to oneDNN on AVX-512 CPUs.
    for (int64_t rows : {5, 60}) {
      at::Tensor q = at::randn({2, 3, rows, 8}), k = at::randn({2, 1, 8, 7});
      at::Tensor want = at::matmul(q.to(at::kDouble), k.to(at::kDouble));
      EXPECT_LT(relative_error(batched_matmul(q, k), want), 1e-5);
      at::Tensor got_b = batched_matmul(q.to(at::kBFloat16), k.to(at::kBFloat16));
      EXPECT_EQ(got_b.scalar_type(), at::kBFloat16);
      EXPECT_EQ(got_b.sizes(), want.sizes());
      EXPECT_LT(relative_error(got_b, at::matmul(q.to(at::kBFloat16).to(at::kDouble), k.to(at::kBFloat16).to(at::kDouble))),
                1e-2);
    }
    at::Tensor a = at::randn({4, 6, 3}), b = at::randn({4, 3, 6}).transpose(1, 2).contiguous().transpose(1, 2);
    EXPECT_LT(relative_error(batched_matmul(a, b), at::matmul(a.to(at::kDouble), b.to(at::kDouble))), 1e-5);
  }
}

}  // namespace
}  // namespace lvlm
