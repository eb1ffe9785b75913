// Building blocks shared by model families: weights fetched from the store by name with their
// expected shapes, and the small layers every transformer here is made of. Each mirrors the
// transformers module named beside it, down to where it upcasts.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "lvlm_probe/checkpoint.h"
#include "cpu_matmul.h"
#include "lvlm_probe/common.h"

namespace lvlm {

// Turns TensorViews into tensors of the compute dtype on the target device. On the CPU, when the
// stored dtype already is the compute dtype, the tensor aliases the memory-mapped file (no copy).
class WeightLoader {
 public:
  WeightLoader(WeightStore& store, at::ScalarType dtype, at::Device device)
      : store_(store), dtype_(dtype), device_(device) {}

  // Undefined tensor when the weight is missing or wrong (the problem is recorded in the store).
  at::Tensor get(const std::string& name, const std::vector<int64_t>& shape, Need need = Need::required);
  WeightStore& store() { return store_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  uint64_t copied_bytes() const { return copied_bytes_; }

 private:
  WeightStore& store_;
  at::ScalarType dtype_;
  at::Device device_;
  uint64_t copied_bytes_ = 0;
};

at::Tensor tensor_from_view(const TensorView& view);  // aliasing CPU tensor in the stored dtype

struct Linear {
  at::Tensor weight, bias;  // [out, in], [out] or undefined
  static Linear load(WeightLoader& w, const std::string& prefix, int64_t out, int64_t in, bool has_bias);
  at::Tensor operator()(const at::Tensor& x) const { return linear_forward(x, weight, bias); }
};

// torch.nn.LayerNorm (CLIP).
struct LayerNorm {
  at::Tensor weight, bias;
  double eps = 1e-5;
  static LayerNorm load(WeightLoader& w, const std::string& prefix, int64_t dim, double eps);
  at::Tensor operator()(const at::Tensor& x) const;
};

// transformers LlamaRMSNorm: normalise in float32, cast back, then scale by the weight.
struct RMSNorm {
  at::Tensor weight;
  double eps = 1e-6;
  static RMSNorm load(WeightLoader& w, const std::string& prefix, int64_t dim, double eps);
  at::Tensor operator()(const at::Tensor& x) const;
};

// LlamaRotaryEmbedding: cos/sin [S, head_dim] for positions [start, start + count), or for the
// given positions [S] (int64), computed in float32 and cast to `dtype` as transformers does.
// M-RoPE takes inv_freq and builds its own per-axis table.
struct Rope {
  at::Tensor inv_freq;  // [head_dim / 2] float32
  double position_scale = 1.0;  // linear rope scaling divides positions by the factor
  static Rope make(int64_t head_dim, double theta, double linear_factor, at::Device device);
  std::pair<at::Tensor, at::Tensor> cos_sin(int64_t start, int64_t count, at::ScalarType dtype) const;
  std::pair<at::Tensor, at::Tensor> cos_sin(const at::Tensor& positions, at::ScalarType dtype) const;
};

// x: [heads, S, head_dim]; rotate_half convention of transformers' Llama.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

at::Tensor quick_gelu(const at::Tensor& x);  // x * sigmoid(1.702 x), CLIP's default activation

at::ScalarType parse_compute_dtype(const std::string& name, bool cuda);  // auto|f32|bf16|f16
const char* compute_dtype_name(at::ScalarType dtype);
at::Device parse_device(const std::string& name);                        // auto|cpu|cuda|cuda:N

}  // namespace lvlm
