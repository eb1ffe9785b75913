// Matrix products on the CPU where Debian's libtorch 1.13 + OpenBLAS are slow (docs/performance.md):
//  - few rows (decoding: 1; the logit lens: L + 1): OpenBLAS's sgemm runs x W^T at 2-9 GFLOP/s, so
//    a register-tiled AVX2 kernel reads W once (float32, bfloat16 or float16, widened in registers);
//  - bfloat16/float16, only with --reduced-math fast: ATen 1.13's CPU bf16 gemm is a scalar loop
//    (~2 GFLOP/s) and oneDNN's bf16 path needs AVX-512, so the product runs in float32 and is
//    rounded once (many bfloat16 rows on an AVX-512 CPU stay with oneDNN, which rounds once too).
//    Not the bits ATen's kernels give, hence opt-in: by default reduced precision stays with ATen
//    and matches transformers on the same libtorch;
//  - many rows: OpenBLAS single-threaded on row blocks, one per ATen thread, so that one thread
//    pool does all the work (OpenBLAS's own pool would fight ATen's for the cores).
// On other devices, and with --device cpu-generic (lvlm_probe/device_path.h), these are at::linear and
// at::matmul.
#pragma once

#include <ATen/ATen.h>

namespace lvlm {

// x [..., K], weight [N, K], bias [N] or undefined -> [..., N] in x's dtype (= torch's F.linear).
at::Tensor linear_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// a [..., M, K] x b [..., K, N] with broadcast batch dimensions (= torch.matmul for batched
// operands); batches are spread over the threads.
at::Tensor batched_matmul(const at::Tensor& a, const at::Tensor& b);
// True when batched_matmul(a, b) is libtorch's at::matmul, which copies strided operands itself
// (by a slower path than .contiguous()); false when the CPU kernels take them as they are.
bool batched_matmul_by_libtorch(const at::Tensor& a, const at::Tensor& b);

// Process-wide choice for bf16/f16 on the CPU (DeviceOptions::reduced_math): false (default) leaves
// bfloat16 products to libtorch, true runs them in float32 with one rounding (float16 always goes
// through float32: libtorch 1.13 has no CPU float16 product).
void set_fast_reduced_precision(bool fast);
bool fast_reduced_precision();

// True when libtorch (1.13 and 2.x) sends bfloat16 products to oneDNN here: CPUs with AVX-512 BW, VL
// and DQ. oneDNN accumulates them in float32 and rounds each output once (on AMX at several times the
// float32 peak). Elsewhere libtorch's own bfloat16 product runs, several times slower than float32.
bool onednn_bf16_products();

// True when the AVX2 kernel runs here (the CPU has AVX2, FMA and F16C, as every AVX2 CPU does).
bool skinny_kernel_available();
// True when linear_forward() of `rows` rows with this weight goes through the AVX2 kernel, whose result
// for a row does not depend on the other rows (each output is one dot product in a fixed order).
bool linear_rows_independent(int64_t rows, const at::Tensor& weight);

}  // namespace lvlm
