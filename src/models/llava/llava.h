#pragma once

#include <memory>

#include "../layers.h"
#include "lvlm_probe/models.h"

namespace lvlm::llava {

// Loads a LlavaForConditionalGeneration checkpoint directory (registry entry).
std::unique_ptr<VisionLanguageModel> load_llava(const std::string& model_dir, at::ScalarType dtype, at::Device device);

}  // namespace lvlm::llava
