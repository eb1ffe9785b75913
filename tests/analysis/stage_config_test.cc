// Per-model stage configs (src/analysis/stage_config.cc): the shipped files, every refusal
// naming the file and the key, matching a model in a directory, and the CLI's stage flags.
#include <fstream>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/common.h"
#include "test_util.h"

namespace lvlm {
namespace {

std::string configs_dir() { return std::string(LVLM_SOURCE_DIR) + "/configs"; }

const char* kValid = R"({"schema": "lvlm-probe/stage-config/1", "model": "m", "family": "llava",
  "num_layers": 32, "hidden_size": 4096, "critical_layer": 18, "mutation_window": [19, 32]})";

std::string write(const test::TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

// The message of the InputError that loading `text` raises, or "(no error)".
std::string load_error(const std::string& text) {
  test::TempDir dir;
  const std::string path = write(dir, "c.json", text);
  try {
    load_stage_config(path);
  } catch (const InputError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << what;  // names the file first
    return what.substr(path.size() + 2);
  }
  return "(no error)";
}

// kValid with the value of `key` replaced by `value` (JSON text).
std::string with(const std::string& key, const std::string& value) {
  std::string text = kValid;
  const size_t at = text.find("\"" + key + "\"");
  const size_t colon = text.find(':', at);
  const size_t end = text.find_first_of(",}", key == "mutation_window" ? text.find(']', at) : colon);
  return text.substr(0, colon + 2) + value + text.substr(end);
}

TEST(StageConfig, ShippedFiles) {
  const StageConfig b7 = load_stage_config(configs_dir() + "/llava-1.5-7b.json");
  EXPECT_EQ(b7.model, "llava-1.5-7b");
  EXPECT_EQ(b7.family, "llava");
  EXPECT_EQ(b7.num_layers, 32);
  EXPECT_EQ(b7.hidden_size, 4096);
  EXPECT_EQ(b7.critical_layer, 18);
  EXPECT_EQ(b7.window_first, 19);
  EXPECT_EQ(b7.window_last, 32);
  EXPECT_FALSE(b7.estimate);
  EXPECT_NE(b7.source.find("issue #1"), std::string::npos);

  const StageConfig b13 = load_stage_config(configs_dir() + "/llava-1.5-13b.json");
  EXPECT_EQ(b13.num_layers, 40);
  EXPECT_EQ(b13.hidden_size, 5120);
  EXPECT_TRUE(b13.estimate);  // no published value: it must say so
  EXPECT_EQ(b13.source.rfind("ESTIMATE", 0), 0u);
  EXPECT_EQ(b13.window_first, b13.critical_layer + 1);
  EXPECT_EQ(b13.window_last, 40);
}

TEST(StageConfig, RefusalsNameTheKey) {
  EXPECT_EQ(load_error(kValid), "(no error)");
  EXPECT_EQ(load_error("{").rfind("invalid JSON: ", 0), 0u);
  EXPECT_EQ(load_error("[1]"), "expected a JSON object");
  EXPECT_EQ(load_error(with("schema", "\"lvlm-probe/stage-config/2\"")),
            "key 'schema': expected \"lvlm-probe/stage-config/1\", found \"lvlm-probe/stage-config/2\"");
  EXPECT_EQ(load_error(R"({"schema": "lvlm-probe/stage-config/1", "model": "m", "family": "llava",
      "num_layers": 32, "hidden_size": 4096, "mutation_window": [19, 32]})"),
            "missing key 'critical_layer'");
  EXPECT_EQ(load_error(with("critical_layer", "32")), "key 'critical_layer': 32 is outside [1, 31] (num_layers 32)");
  EXPECT_EQ(load_error(with("critical_layer", "\"18\"")), "key 'critical_layer': expected an integer, found a string");
  EXPECT_EQ(load_error(with("num_layers", "1")), "key 'num_layers': expected at least 2, found 1");
  EXPECT_EQ(load_error(with("mutation_window", "[10, 32]")),
            "key 'mutation_window': [10, 32] is not within [critical_layer + 1, num_layers] = [19, 32]");
  EXPECT_EQ(load_error(with("mutation_window", "[19, 33]")),
            "key 'mutation_window': [19, 33] is not within [critical_layer + 1, num_layers] = [19, 32]");
  EXPECT_EQ(load_error(with("mutation_window", "19")),
            "key 'mutation_window': expected [first, last], two layer numbers");
  EXPECT_THROW(load_stage_config("/nonexistent/stage.json"), InputError);
}

TEST(StageConfig, FindsTheModelsFile) {
  auto b7 = find_stage_config(configs_dir(), "llava", 32, 4096);
  ASSERT_TRUE(b7);
  EXPECT_EQ(b7->model, "llava-1.5-7b");
  auto b13 = find_stage_config(configs_dir(), "llava", 40, 5120);
  ASSERT_TRUE(b13);
  EXPECT_EQ(b13->model, "llava-1.5-13b");
  EXPECT_FALSE(find_stage_config(configs_dir(), "llava", 4, 64));      // the tiny fixture
  EXPECT_FALSE(find_stage_config(configs_dir(), "qwen2_vl", 32, 4096));  // another family

  test::TempDir dir;
  write(dir, "a.json", kValid);
  write(dir, "b.json", kValid);
  write(dir, "notes.txt", "not a config");
  try {
    find_stage_config(dir.path(), "llava", 32, 4096);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("a.json and " + dir.file("b.json") + " match"), std::string::npos) << e.what();
  }
  EXPECT_THROW(find_stage_config(dir.file("a.json"), "llava", 32, 4096), InputError);  // not a directory
}

TEST(StageConfig, OptionsFromFlags) {
  StageOptions a = stage_options_from_flags("auto", 0, "");
  EXPECT_EQ(a.method, StageOptions::Method::automatic);
  StageOptions f = stage_options_from_flags("fixed", 18, "");
  EXPECT_EQ(f.method, StageOptions::Method::fixed);
  EXPECT_EQ(f.critical_layer, 18);
  EXPECT_FALSE(f.config);
  StageOptions k = stage_options_from_flags("fixed", 0, configs_dir() + "/llava-1.5-7b.json");
  ASSERT_TRUE(k.config);
  EXPECT_EQ(k.config->critical_layer, 18);
  EXPECT_STREQ(stage_method_name(k.method), "fixed");

  auto message = [](const std::string& m, int c, const std::string& path) {
    try {
      stage_options_from_flags(m, c, path);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(message("auto", 18, ""), "--critical-layer needs --stages fixed");
  EXPECT_EQ(message("auto", 0, configs_dir() + "/llava-1.5-7b.json"), "--stage-config needs --stages fixed");
  EXPECT_EQ(message("fixd", 0, ""), "--stages: expected auto or fixed, found 'fixd'");
  EXPECT_EQ(message("fixed", -1, ""), "--critical-layer must be a layer number >= 1");
  EXPECT_THROW(stage_options_from_flags("fixed", 0, "/nonexistent.json"), InputError);
}

}  // namespace
}  // namespace lvlm
