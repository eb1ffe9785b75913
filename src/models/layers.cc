#include "layers.h"

#include <torch/version.h>

#include <cmath>
#include <cstdint>

#include "cuda_runtime.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

at::ScalarType scalar_type(DType d) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F64: return at::kDouble;
    default: throw InputError(std::string("unsupported weight dtype ") + dtype_name(d));
  }
}

}  // namespace

at::Tensor tensor_from_view(const TensorView& v) {
  auto options = at::TensorOptions().dtype(scalar_type(v.dtype)).device(at::kCPU);
  // The mapping is read-only and outlives the model; nothing writes into weights.
  auto* data = const_cast<uint8_t*>(v.data);
  at::Tensor t = at::from_blob(data, v.shape, options);
  // Kernels assume element alignment; safetensors does not promise it (header length is free).
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(v.dtype) != 0) t = t.clone();
  return t;
}

at::Tensor WeightLoader::get(const std::string& name, const std::vector<int64_t>& shape, Need need) {
  const TensorView* view = store_.take(name, shape, need);
  if (!view) return {};
  at::Tensor t = tensor_from_view(*view);
  if (t.scalar_type() != dtype_ || device_ != at::Device(at::kCPU)) {
    copied_bytes_ += static_cast<uint64_t>(t.numel()) * at::elementSize(dtype_);
    t = t.to(device_, dtype_);
  }
  return t;
}

Linear Linear::load(WeightLoader& w, const std::string& prefix, int64_t out, int64_t in, bool has_bias) {
  Linear l;
  l.weight = w.get(prefix + ".weight", {out, in});
  if (has_bias) l.bias = w.get(prefix + ".bias", {out});
  return l;
}

LayerNorm LayerNorm::load(WeightLoader& w, const std::string& prefix, int64_t dim, double eps) {
  LayerNorm n;
  n.weight = w.get(prefix + ".weight", {dim});
  n.bias = w.get(prefix + ".bias", {dim});
  n.eps = eps;
  return n;
}

at::Tensor LayerNorm::operator()(const at::Tensor& x) const {
  return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

RMSNorm RMSNorm::load(WeightLoader& w, const std::string& prefix, int64_t dim, double eps) {
  RMSNorm n;
  n.weight = w.get(prefix + ".weight", {dim});
  n.eps = eps;
  return n;
}

at::Tensor RMSNorm::operator()(const at::Tensor& x) const {
  at::Tensor h = x.to(at::kFloat);
  at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(variance + eps);
  return weight * h.to(x.scalar_type());
}

Rope Rope::make(int64_t head_dim, double theta, double linear_factor, at::Device device) {
  Rope r;
  // 1 / theta^(2i/d), exponent computed in float32 from int64 indices as transformers does.
  at::Tensor idx = at::arange(0, head_dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat);
  // Python's `1.0 / t` is t.reciprocal() * 1.0, so reciprocal() gives the same bits.
  r.inv_freq = at::pow(theta, idx / static_cast<double>(head_dim)).reciprocal().to(device);
  r.position_scale = linear_factor;
  return r;
}

std::pair<at::Tensor, at::Tensor> Rope::cos_sin(int64_t start, int64_t count, at::ScalarType dtype) const {
  return cos_sin(at::arange(start, start + count, inv_freq.options().dtype(at::kLong)), dtype);
}

std::pair<at::Tensor, at::Tensor> Rope::cos_sin(const at::Tensor& positions, at::ScalarType dtype) const {
  at::Tensor pos = positions.to(inv_freq.device(), at::kLong).to(at::kFloat);
  if (position_scale != 1.0) pos = pos / position_scale;
  at::Tensor freqs = at::outer(pos, inv_freq);  // [S, d/2], one float32 product per element
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

at::Tensor quick_gelu(const at::Tensor& x) { return x * at::sigmoid(1.702 * x); }

at::ScalarType parse_compute_dtype(const std::string& name, bool cuda) {
  if (name == "auto") return cuda ? at::kBFloat16 : at::kFloat;
  if (name == "f32" || name == "float32") return at::kFloat;
  if (name == "bf16" || name == "bfloat16") return at::kBFloat16;
  if (name == "f16" || name == "float16") {
    if (!cuda && TORCH_VERSION_MAJOR < 2)
      throw UsageError("--dtype f16 needs a CUDA device or libtorch 2 on the CPU (libtorch " TORCH_VERSION
                       " has no CPU float16 layer norm); use bf16 or f32");
    return at::kHalf;
  }
  throw UsageError("--dtype: '" + name + "' is not one of auto, f32, bf16, f16");
}

const char* compute_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "f32";
    case at::kBFloat16: return "bf16";
    case at::kHalf: return "f16";
    default: return "?";
  }
}

at::Device parse_device(const std::string& name) {
  // libtorch is asked about CUDA only after its CUDA half is loaded (cuda_runtime.h).
  if (name == "auto")
    return gpu_device_nodes_present() && load_cuda_backend(nullptr) && at::hasCUDA() ? at::Device(at::kCUDA, 0)
                                                                                     : at::Device(at::kCPU);
  if (name == "cpu" || name == "cpu-generic") return at::Device(at::kCPU);  // cpu-generic: see device_path.h
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(name.substr(5), &used);
        if (used != name.size() - 5 || index < 0) throw std::invalid_argument("");
      } catch (const std::logic_error&) {
        throw UsageError("--device: '" + name + "' is not cpu, cuda or cuda:N");
      }
    }
    std::string why;
    if (!load_cuda_backend(&why)) throw RuntimeFailure("--device " + name + ": this libtorch has no CUDA support (" + why + ")");
    if (!at::hasCUDA()) throw RuntimeFailure("--device " + name + ": no GPU is visible to libtorch's CUDA runtime");
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device: '" + name + "' is not one of auto, cpu, cpu-generic, cuda, cuda:N");
}

}  // namespace lvlm
