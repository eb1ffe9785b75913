// Model families: everything a family of checkpoints (LLaVA, ...) brings, torch-free. A family is
// one object owned by its folder src/models/<family>/, found by config.json's `architectures`
// (or by a make-model preset) through one line of src/models/families.inc; its model, which needs
// libtorch, is loaded by load_model() (include/lvlm_probe/models.h). docs/models.md says how to
// add one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/make_model.h"
#include "lvlm_probe/model_config.h"
#include "lvlm_probe/processor.h"

namespace lvlm {

class ModelFamily {
 public:
  virtual ~ModelFamily() = default;
  // The family's short name: ModelInfo::family, the reports' model.family, configs/ stage files.
  virtual std::string name() const = 0;
  // The config.json architectures[0] values it loads ("LlavaForConditionalGeneration").
  virtual std::vector<std::string> architectures() const = 0;
  // `inspect`: geometry, dtypes on disk, parameters and the memory a probe needs, from config.json
  // and the safetensors headers (no weight is read). InputError naming the file and key.
  virtual ModelDescription describe(const std::string& model_dir) const = 0;
  // The tokenizer, image preprocessing and templates of a checkpoint directory.
  virtual std::unique_ptr<Processor> processor(const std::string& model_dir) const = 0;
  // make-model: the presets this family owns, and the checkpoint a request makes: tensor names
  // from the family's name table, its config.json and companions. UsageError for bad geometry.
  virtual std::vector<std::string> make_model_presets() const = 0;
  virtual CheckpointPlan plan_checkpoint(const MakeModelOptions& options) const = 0;
};

// Every family, in the registry's order.
const std::vector<const ModelFamily*>& model_families();
// The family whose architectures hold `architecture`, or nullptr.
const ModelFamily* find_family(const std::string& architecture);
// The family of a checkpoint directory, by config.json's architectures[0]. InputError for a
// missing directory or config.json, and for an architecture no family claims (naming those that are).
const ModelFamily& family_of_model(const std::string& model_dir);
// The family owning a make-model preset. UsageError listing every preset otherwise.
const ModelFamily& family_of_preset(const std::string& preset);

// = family_of_model(model_dir).describe(model_dir).
ModelDescription describe_model(const std::string& model_dir);

}  // namespace lvlm
