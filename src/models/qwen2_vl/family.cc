// The Qwen2-VL family object: what the registry (../families.inc) knows Qwen2-VL and Qwen2.5-VL by.
#include "family.h"

#include "config.h"

namespace lvlm::qwen2_vl {
namespace {

class QwenFamily final : public ModelFamily {
 public:
  std::string name() const override { return "qwen2_vl"; }
  std::vector<std::string> architectures() const override { return {kQwen2VLArchitecture, kQwen25VLArchitecture}; }
  ModelDescription describe(const std::string& model_dir) const override { return qwen2_vl::describe(model_dir); }
  std::unique_ptr<Processor> processor(const std::string& model_dir) const override {
    return make_processor(model_dir);
  }
  std::vector<std::string> make_model_presets() const override { return presets(); }
  CheckpointPlan plan_checkpoint(const MakeModelOptions& options) const override {
    return qwen2_vl::plan_checkpoint(options);
  }
};

}  // namespace

const ModelFamily& family() {
  static const QwenFamily instance;
  return instance;
}

}  // namespace lvlm::qwen2_vl
