// The LLaVA family object: what the registry (../families.inc) knows LLaVA by.
#include "family.h"

namespace lvlm::llava {
namespace {

class LlavaFamily final : public ModelFamily {
 public:
  std::string name() const override { return "llava"; }
  std::vector<std::string> architectures() const override { return {"LlavaForConditionalGeneration"}; }
  ModelDescription describe(const std::string& model_dir) const override { return llava::describe(model_dir); }
  std::unique_ptr<Processor> processor(const std::string& model_dir) const override {
    return make_processor(model_dir);
  }
  std::vector<std::string> make_model_presets() const override { return presets(); }
  CheckpointPlan plan_checkpoint(const MakeModelOptions& options) const override {
    return llava::plan_checkpoint(options);
  }
};

}  // namespace

const ModelFamily& family() {
  static const LlavaFamily instance;
  return instance;
}

}  // namespace lvlm::llava
