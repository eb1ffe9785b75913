#include "mrope.h"

namespace lvlm::qwen2_vl {

std::pair<at::Tensor, at::Tensor> mrope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions,
                                                const std::vector<int>& section, at::ScalarType dtype) {
  // Frequency j turns with coordinate axis[j]: j in the first section -> temporal, and so on.
  std::vector<int64_t> axis;
  for (size_t s = 0; s < section.size(); ++s) axis.insert(axis.end(), section[s], static_cast<int64_t>(s));
  const at::Tensor rows = at::tensor(axis, at::TensorOptions().dtype(at::kLong)).to(positions.device());
  // [S, head_dim / 2]: one float32 product per element, as the [3, d/2, 1] x [3, 1, S] matmul does.
  at::Tensor freqs = positions.index_select(0, rows).t().to(at::kFloat) * inv_freq.to(positions.device());
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor text_positions(int64_t first, int64_t count) {
  return at::arange(first, first + count, at::TensorOptions().dtype(at::kLong)).unsqueeze(0).expand({3, count}).contiguous();
}

}  // namespace lvlm::qwen2_vl
