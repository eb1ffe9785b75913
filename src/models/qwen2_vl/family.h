// The Qwen2-VL family's torch-free parts, each in its own file; family.cc assembles them into the
// ModelFamily object. load() (qwen2_vl.cc) needs libtorch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lvlm_probe/family.h"

namespace lvlm::qwen2_vl {

const ModelFamily& family();                                              // family.cc
ModelDescription describe(const std::string& model_dir);                  // describe.cc
std::unique_ptr<Processor> make_processor(const std::string& model_dir);  // processor.cc
const std::vector<std::string>& presets();                                // make_model.cc
CheckpointPlan plan_checkpoint(const MakeModelOptions& options);          // make_model.cc

}  // namespace lvlm::qwen2_vl
