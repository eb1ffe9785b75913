// Per-model stage defaults: configs/<model>.json, read for `--stages fixed`. Format (all keys
// required except estimate and source):
//   {"schema": "lvlm-probe/stage-config/1", "model": "llava-1.5-7b", "family": "llava",
//    "num_layers": 32, "hidden_size": 4096, "critical_layer": 18, "mutation_window": [19, 32],
//    "estimate": false, "source": "..."}
#include <algorithm>
#include <filesystem>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/json.h"

namespace lvlm {
namespace {

// mutation_window: [first, last] with critical_layer < first <= last <= num_layers.
void read_window(const Json& j, StageConfig& k) {
  const std::string key = "key 'mutation_window': ";
  if (!j.contains("mutation_window")) throw InputError(k.path, "missing key 'mutation_window'");
  const Json& w = j["mutation_window"];
  if (!w.is_array() || w.size() != 2 || !w[0].is_number_integer() || !w[1].is_number_integer())
    throw InputError(k.path, key + "expected [first, last], two layer numbers");
  k.window_first = w[0].get<int>(), k.window_last = w[1].get<int>();
  if (k.window_first <= k.critical_layer || k.window_last > k.num_layers || k.window_first > k.window_last)
    throw InputError(k.path, key + "[" + std::to_string(k.window_first) + ", " + std::to_string(k.window_last) +
                                 "] is not within [critical_layer + 1, num_layers] = [" +
                                 std::to_string(k.critical_layer + 1) + ", " + std::to_string(k.num_layers) + "]");
}

}  // namespace

StageConfig load_stage_config(const std::string& path) {
  const Json j = read_json_file(path);
  StageConfig k;
  k.path = path;
  if (!j.is_object()) throw InputError(path, "expected a JSON object");
  const auto schema = json_require<std::string>(j, "schema", path);
  if (schema != kStageConfigSchema)
    throw InputError(path, "key 'schema': expected \"" + std::string(kStageConfigSchema) + "\", found \"" + schema +
                               "\"");
  k.model = json_require<std::string>(j, "model", path);
  k.family = json_require<std::string>(j, "family", path);
  k.num_layers = json_require<int>(j, "num_layers", path);
  k.hidden_size = json_require<int>(j, "hidden_size", path);
  k.critical_layer = json_require<int>(j, "critical_layer", path);
  k.estimate = json_get<bool>(j, "estimate", false, path);
  k.source = json_get<std::string>(j, "source", "", path);
  if (k.num_layers < 2)
    throw InputError(path, "key 'num_layers': expected at least 2, found " + std::to_string(k.num_layers));
  if (k.hidden_size < 1)
    throw InputError(path, "key 'hidden_size': expected a positive size, found " + std::to_string(k.hidden_size));
  if (k.critical_layer < 1 || k.critical_layer > k.num_layers - 1)
    throw InputError(path, "key 'critical_layer': " + std::to_string(k.critical_layer) + " is outside [1, " +
                               std::to_string(k.num_layers - 1) + "] (num_layers " + std::to_string(k.num_layers) +
                               ")");
  read_window(j, k);
  return k;
}

std::optional<StageConfig> find_stage_config(const std::string& dir, const std::string& family, int num_layers,
                                             int hidden_size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir, "not a directory of stage configs");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::optional<StageConfig> found;
  for (const std::string& file : files) {
    StageConfig k = load_stage_config(file);
    if (k.family != family || k.num_layers != num_layers || k.hidden_size != hidden_size) continue;
    if (found)
      throw InputError(dir, "both " + found->path + " and " + file + " match a " + family + " model with " +
                                std::to_string(num_layers) + " layers; pass --stage-config FILE");
    found = std::move(k);
  }
  return found;
}

}  // namespace lvlm
