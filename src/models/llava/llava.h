// The LLaVA family (transformers' LlavaForConditionalGeneration): CLIP vision tower + two-layer
// GELU projector + LLaMA decoder. family() is torch-free (family.cc: config, inspect, processor,
// make-model); load() builds the model with libtorch (llava.cc). Registered in ../families.inc.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "family.h"
#include "lvlm_probe/models.h"

namespace lvlm::llava {

// Loads a LlavaForConditionalGeneration checkpoint directory; `store` holds its weights.
std::unique_ptr<VisionLanguageModel> load(const std::string& model_dir, WeightStore store, at::ScalarType dtype,
                                          at::Device device);

}  // namespace lvlm::llava
