// The Qwen2-VL family (transformers' Qwen2VLForConditionalGeneration and
// Qwen2_5_VLForConditionalGeneration): vision tower with 2-D rotary positions and patch merger,
// Qwen2 decoder with M-RoPE. family() is torch-free (family.cc: config, inspect, processor,
// make-model); load() builds the model with libtorch (qwen2_vl.cc). Registered in ../families.inc.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "family.h"
#include "lvlm_probe/models.h"

namespace lvlm::qwen2_vl {

// Loads a Qwen2-VL or Qwen2.5-VL checkpoint directory (either tensor layout); `store` holds its weights.
std::unique_ptr<VisionLanguageModel> load(const std::string& model_dir, WeightStore store, at::ScalarType dtype,
                                          at::Device device);

}  // namespace lvlm::qwen2_vl
