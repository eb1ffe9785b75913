// What this machine does with the libtorch in use (the floors of `bench --floor`), and the work of
// each phase of a LLaVA run from its geometry (docs/performance.md, "Floors").
#include "floors.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>  // NoGradGuard: not reached through ATen.h in libtorch >= 2.14

#include <algorithm>
#include <functional>
#include <vector>

#include "../models/cpu_matmul.h"
#include "../models/llava/config.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/models.h"
#include "lvlm_probe/stopwatch.h"

namespace lvlm {
namespace {

double seconds_of(const std::function<void()>& work) {
  const Stopwatch clock;
  work();
  return clock.seconds();
}

double fastest_of(int runs, const std::function<void()>& work) {
  double best = seconds_of(work);
  for (int i = 1; i < runs; ++i) best = std::min(best, seconds_of(work));
  return best;
}

// The best FLOP/s of an n x n x n product in `type`, n doubled from 256 until one product takes
// 50 ms (or n = 4096), so that a slow kernel (libtorch 1.13's scalar bf16 loop) is measured in a
// second, not an hour. Both layouts are tried: a @ b, and a @ bᵀ, the layout of every weight in the
// model (`linear`); without oneDNN's bf16 products (a CPU without AVX-512), libtorch's fallback runs
// the second ~10x faster than the first. float32 also tries the row blocks cpu_matmul.cc gives a
// large product (on Debian's libtorch, at::mm runs OpenBLAS at one thread: see configure_threads).
// A layout 4x slower than the best at one size cannot be the peak and is not timed again.
double gemm_peak(at::ScalarType type) {
  std::vector<std::function<void(const at::Tensor&, const at::Tensor&)>> ways = {
      [](const at::Tensor& a, const at::Tensor& b) { at::mm(a, b); },
      [](const at::Tensor& a, const at::Tensor& b) { at::linear(a, b); }};
  if (type == at::kFloat) ways.push_back([](const at::Tensor& a, const at::Tensor& b) { linear_forward(a, b); });
  for (int64_t n = 256;; n *= 2) {
    const at::Tensor a = at::randn({n, n}).to(type), b = at::randn({n, n}).to(type);
    std::vector<double> once;
    for (const auto& way : ways) once.push_back(seconds_of([&] { way(a, b); }));  // also warms up
    const double best_once = *std::min_element(once.begin(), once.end());
    for (size_t i = ways.size(); i-- > 0;)
      if (once[i] > 4 * best_once) ways.erase(ways.begin() + static_cast<std::ptrdiff_t>(i));
    if (best_once < 0.05 && n < 4096) continue;
    double best = best_once;
    for (const auto& way : ways) best = std::min(best, fastest_of(3, [&] { way(a, b); }));
    return 2.0 * double(n) * double(n) * double(n) / best;
  }
}

// Bytes/s read from 1 GiB of float32, far beyond any cache, on every ATen thread: the faster of a
// sum and, where the AVX2 kernel runs, one row times the GiB as a [65536, 4096] weight (decoding's
// read). at::sum alone reads more slowly than that kernel on some CPUs (AMD Zen 3: 18-19 against
// 21-25 GB/s), which put decoding steps under their floor.
double memory_read() {
  const at::Tensor x = at::ones({int64_t(1) << 28}, at::kFloat);
  const at::Tensor w = x.view({-1, 4096}), row = at::ones({1, 4096}, at::kFloat);
  double best = fastest_of(5, [&] { at::sum(x); });
  if (linear_rows_independent(1, w)) best = std::min(best, fastest_of(5, [&] { linear_forward(row, w); }));
  return double(x.nbytes()) / best;
}

}  // namespace

MachineFloors measure_floors(int threads) {
  configure_threads(threads);
  at::NoGradGuard no_grad;
  MachineFloors f;
  f.threads = at::get_num_threads();
  f.gemm_f32 = gemm_peak(at::kFloat);
  f.gemm_bf16 = gemm_peak(at::kBFloat16);
  f.memory = memory_read();
  return f;
}

ModelWork model_work(const LlavaConfig& c, int64_t positions, int new_tokens, int dtype_bytes) {
  const VisionConfig& v = c.vision;
  const TextConfig& t = c.text;
  const double b = dtype_bytes, S = double(positions);
  // The CLIP tower: CLS + patches through the layers up to the one LLaVA takes; q, k, v, o and the
  // two MLP matrices per layer, attention over all tokens; the patch convolution; the projector.
  const double dv = v.hidden_size, tokens = v.num_patches() + 1.0, vision_layers = c.vision_hidden_state_index();
  const double patch = dv * v.num_channels * v.patch_size * v.patch_size, dt = t.hidden_size;
  const double vision_layer = 4 * dv * dv + 2 * dv * v.intermediate_size, projector = dv * dt + dt * dt;
  ModelWork w;
  w.vision.flops = 2 * tokens * vision_layers * vision_layer + 4 * tokens * tokens * dv * vision_layers +
                   2 * v.num_patches() * patch + 2 * c.num_image_features() * projector;
  w.vision.bytes = (vision_layers * vision_layer + patch + projector) * b;
  // The decoder: q, k, v, o (grouped keys and values) and gate, up, down per layer; attention as
  // computed (every query against every key, the causal mask applied after); the LM head once.
  const double q = double(t.num_attention_heads) * t.head_dim, kv = double(t.num_key_value_heads) * t.head_dim;
  const double layer = dt * (2 * q + 2 * kv) + 3 * dt * t.intermediate_size, L = t.num_hidden_layers;
  const double head = dt * t.vocab_size, weights = L * layer + head;
  w.prefill.flops = 2 * S * L * layer + 4 * S * S * q * L + 2 * head;
  w.prefill.bytes = weights * b;
  // A decoding step reads every weight once and the cache, at its average length over the steps.
  const double cached = S + new_tokens / 2.0;
  w.decode_step.flops = 2 * weights + 4 * cached * q * L;
  w.decode_step.bytes = weights * b + 2 * L * kv * cached * b;
  // The lens: L + 1 rows through the LM head.
  w.lens_step.flops = 2 * (L + 1) * head;
  w.lens_step.bytes = head * b;
  return w;
}

double floor_seconds(const PhaseWork& work, const MachineFloors& floors, bool bf16) {
  const double gemm = bf16 ? floors.gemm_bf16 : floors.gemm_f32;
  return std::max(gemm > 0 ? work.flops / gemm : 0.0, floors.memory > 0 ? work.bytes / floors.memory : 0.0);
}

}  // namespace lvlm
