#include "model_files.h"

#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"

namespace lvlm {

std::string read_config_json(const std::string& model_dir, std::string* path) {
  if (!is_directory(model_dir))
    throw InputError(model_dir, file_exists(model_dir) ? "is not a directory (expected a model directory)"
                                                       : "model directory does not exist");
  *path = join_path(model_dir, "config.json");
  if (!file_exists(*path)) throw InputError(*path, "missing (not a Hugging Face model directory?)");
  return read_file(*path, JsonLimits{}.max_bytes);
}

std::optional<std::vector<int>> generation_eos_ids(const std::string& model_dir) {
  const std::string gen = join_path(model_dir, "generation_config.json");
  if (!file_exists(gen)) return std::nullopt;
  const Json g = read_json_file(gen);
  auto eos = g.find("eos_token_id");
  if (eos == g.end()) return std::nullopt;
  if (eos->is_number_integer()) return std::vector<int>{eos->get<int>()};
  if (!eos->is_array()) return std::nullopt;
  std::vector<int> ids;
  for (const auto& e : *eos) {
    if (!e.is_number_integer()) throw InputError(gen, "eos_token_id must hold integers");
    ids.push_back(e.get<int>());
  }
  return ids;
}

}  // namespace lvlm
