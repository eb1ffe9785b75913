// The torch-free half of the family registry: which family a checkpoint or a make-model preset
// belongs to. The loaders are looked up by family name in registry.cc (lvlm_torch).
#include "lvlm_probe/common.h"
#include "lvlm_probe/family.h"
#include "lvlm_probe/json.h"

#define LVLM_FAMILY(ns) \
  namespace lvlm::ns {  \
  const ModelFamily& family(); \
  }
#include "families.inc"
#undef LVLM_FAMILY

namespace lvlm {

const std::vector<const ModelFamily*>& model_families() {
  static const std::vector<const ModelFamily*> families = {
#define LVLM_FAMILY(ns) &ns::family(),
#include "families.inc"
#undef LVLM_FAMILY
  };
  return families;
}

const ModelFamily* find_family(const std::string& architecture) {
  for (const ModelFamily* f : model_families())
    for (const std::string& a : f->architectures())
      if (a == architecture) return f;
  return nullptr;
}

const ModelFamily& family_of_model(const std::string& model_dir) {
  if (!is_directory(model_dir))
    throw InputError(model_dir, file_exists(model_dir) ? "is not a directory (expected a model directory)"
                                                       : "model directory does not exist");
  const std::string config = join_path(model_dir, "config.json");
  if (!file_exists(config)) throw InputError(config, "missing (not a Hugging Face model directory?)");
  const std::string arch = read_architecture(model_dir);
  if (const ModelFamily* f = find_family(arch)) return *f;
  std::string known;
  for (const ModelFamily* f : model_families())
    for (const std::string& a : f->architectures()) known += (known.empty() ? "" : ", ") + a;
  std::string hint;
  if (arch == "LlavaLlamaForCausalLM")  // the original haotian-liu/LLaVA release
    hint = "; convert it with transformers' models/llava/convert_llava_weights_to_hf.py";
  throw InputError(config, "architecture '" + (arch.empty() ? std::string("(none)") : arch) +
                               "' is not supported (supported: " + known + ")" + hint);
}

const ModelFamily& family_of_preset(const std::string& preset) {
  std::string known;
  for (const ModelFamily* f : model_families())
    for (const std::string& p : f->make_model_presets()) {
      if (p == preset) return *f;
      known += (known.empty() ? "" : ", ") + p;
    }
  throw UsageError("--preset: '" + preset + "' is not one of " + known);
}

ModelDescription describe_model(const std::string& model_dir) { return family_of_model(model_dir).describe(model_dir); }

std::string architecture_of(const Json& config) {
  if (!config.is_object()) return "";
  auto arch = config.find("architectures");
  if (arch == config.end() || !arch->is_array() || arch->empty() || !(*arch)[0].is_string()) return "";
  return (*arch)[0].get<std::string>();
}

std::string read_architecture(const std::string& model_dir) {
  return architecture_of(read_json_file(join_path(model_dir, "config.json")));
}

}  // namespace lvlm
