// `make-model`: a checkpoint lvlm-probe opens and probes, the same bytes for the same seed, and
// usage errors for bad flags (exit code 2) before anything is written.
#include <sys/stat.h>

#include <filesystem>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/report.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

std::string make_tiny(const std::string& out, const std::string& extra = "") {
  return "make-model --preset tiny --out '" + out + "' --tokenizer '" + test::tiny_model() + "/tokenizer.model' " + extra;
}

TEST(MakeModel, TinyPresetLoadsAndGivesAReport) {
  test::TempDir dir;
  const std::string model = dir.file("tiny");
  test::CliResult r = test::run_cli(make_tiny(model));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"config.json", "generation_config.json", "preprocessor_config.json",
                        "model.safetensors.index.json", "tokenizer.model", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(model + "/" + f)) << f;
  // Every tensor of the index is in the shard it names (WeightStore cross-checks on open).
  Json index = read_json_file(model + "/model.safetensors.index.json");
  EXPECT_GE(index["weight_map"].size(), 80u);
  WeightStore store = WeightStore::open(model);
  EXPECT_GE(store.files().size(), 2u);  // sharded, as save_pretrained writes bigger models
  EXPECT_EQ(store.all().size(), index["weight_map"].size());
  Json config = read_json_file(model + "/config.json");
  EXPECT_EQ(config["image_token_index"], 510);  // from the copied tokenizer's added tokens
  EXPECT_EQ(config["text_config"]["tie_word_embeddings"], false);

  const std::string report = dir.file("r.json");
  r = test::run_cli("run --model '" + model + "' --image '" + test::tiny_model() +
                    "/test.png' --prompt 'What is this?' --max-new-tokens 3 --out '" + report + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = read_report(report);
  EXPECT_EQ(j["model"]["num_layers"], 4);
  EXPECT_EQ(j["output"]["token_ids"].size(), 3u);  // a random model rarely says EOS this early
}

TEST(MakeModel, SameSeedSameBytes) {
  test::TempDir dir;
  ASSERT_EQ(test::run_cli(make_tiny(dir.file("a"), "--seed 7")).exit_code, 0);
  ASSERT_EQ(test::run_cli(make_tiny(dir.file("b"), "--seed 7")).exit_code, 0);
  ASSERT_EQ(test::run_cli(make_tiny(dir.file("c"), "--seed 8")).exit_code, 0);
  const std::string shard = "/model-00001-of-00003.safetensors";
  EXPECT_EQ(read_file(dir.file("a") + shard), read_file(dir.file("b") + shard));
  EXPECT_NE(read_file(dir.file("a") + shard), read_file(dir.file("c") + shard));
}

TEST(MakeModel, ReducedPrecisionAndGeometryOverrides) {
  test::TempDir dir;
  const std::string model = dir.file("bf16");
  test::CliResult r = test::run_cli("make-model --preset tiny --dtype bf16 --layers 3 --kv-heads 2 --vocab 300 --out '" +
                                    model + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json config = read_json_file(model + "/config.json");
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  EXPECT_EQ(config["text_config"]["num_hidden_layers"], 3);
  EXPECT_EQ(config["text_config"]["num_key_value_heads"], 2);
  EXPECT_EQ(config["image_token_index"], 298);  // the vocabulary's last two ids: image, pad
  WeightStore store = WeightStore::open(model);
  EXPECT_EQ(store.bytes_by_dtype().begin()->first, DType::BF16);
  r = test::run_cli("run --model '" + model + "' --image '" + test::tiny_model() +
                    "/test.png' --input-ids 1,5,298,7 --max-new-tokens 2 --out '" + dir.file("r.json") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(MakeModel, RefusesBadFlags) {
  test::TempDir dir;
  struct Case {
    std::string args;
    int code;
    std::string fragment;
  };
  const std::string out = dir.file("m");
  const std::vector<Case> cases = {
      {"--preset huge", 2, "--preset"},
      {"--hidden 100 --heads 3", 2, "--hidden 100 is not divisible by --heads 3"},
      {"--heads 4 --kv-heads 3", 2, "not a multiple of --kv-heads 3"},
      {"--vision-layers 1", 2, "--vision-layers must be at least 2"},
      {"--image-size 30 --patch-size 8", 2, "--image-size 30 is not a multiple of --patch-size 8"},
      {"--layers -1", 2, "--layers: Value -1 not in range 1 to 1024"},
      {"--layers 0", 2, "--layers: Value 0 not in range 1 to 1024"},  // not "the preset's"
      {"--dtype f64", 2, "--dtype"},
      {"--vocab 100 --tokenizer '" + test::tiny_model() + "/tokenizer.model'", 2, "more than the model's vocabulary of 100"},
      {"--tokenizer /nonexistent/tokenizer.model", 3, "/nonexistent/tokenizer.model"},
  };
  for (const auto& c : cases) {
    test::CliResult r = test::run_cli("make-model --preset tiny --out '" + out + "' " + c.args);
    EXPECT_EQ(r.exit_code, c.code) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(out + "/config.json")) << c.args;
  }
  ASSERT_EQ(test::run_cli("make-model --preset tiny --out '" + out + "'").exit_code, 0);
  test::CliResult again = test::run_cli("make-model --preset tiny --out '" + out + "'");
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already holds a checkpoint; pass --force"), std::string::npos) << again.err;
  EXPECT_EQ(test::run_cli("make-model --preset tiny --force --out '" + out + "'").exit_code, 0);
}

// The checkpoint's files appear together or not at all: a config.json that cannot be replaced (a
// FIFO) is found after the shards were written, and none of them is left (docs/hardening.md).
TEST(MakeModel, AFileThatCannotBeWrittenLeavesNoneOfTheCheckpoint) {
  test::TempDir dir;
  const std::string out = dir.file("m");
  fs::create_directory(out);
  ASSERT_EQ(::mkfifo((out + "/config.json").c_str(), 0600), 0);
  test::CliResult r = test::run_cli("make-model --preset tiny --force --out '" + out + "'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("error: " + out + "/config.json: is a FIFO, not a regular file; refusing to replace it"),
            std::string::npos)
      << r.err;
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(out)) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"config.json"});
}

}  // namespace
}  // namespace lvlm
