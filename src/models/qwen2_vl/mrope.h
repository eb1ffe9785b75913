// Multimodal rotary position embedding (M-RoPE) of Qwen2-VL's decoder: every position has three
// coordinates (temporal, height, width; equal for text), and the rotary frequencies are split into
// three sections (mrope_section), each rotated by one coordinate (transformers'
// apply_multimodal_rotary_pos_emb: the section list doubled over cat(freqs, freqs), rotate-half).
#pragma once

#include <ATen/ATen.h>

#include <utility>
#include <vector>

namespace lvlm::qwen2_vl {

// positions [3, S] int64; inv_freq [head_dim / 2] float32; section sums to head_dim / 2.
// Returns cos, sin [S, head_dim] computed in float32 and rounded to `dtype` as transformers does.
std::pair<at::Tensor, at::Tensor> mrope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions,
                                                const std::vector<int>& section, at::ScalarType dtype);

// The [3, count] positions of text continuing at `first` (all three coordinates equal).
at::Tensor text_positions(int64_t first, int64_t count);

}  // namespace lvlm::qwen2_vl
