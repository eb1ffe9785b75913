// Qwen2-VL and Qwen2.5-VL through the lvlm-probe binary: `inspect` of both fixtures, and make-model's
// Qwen presets (the tiny ones load and probe; the shapes of the released 2B and 7B checkpoints,
// checked by their config and parameter count without writing them).
#include <filesystem>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/family.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/make_model.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

TEST(QwenCli, InspectDescribesBothVersions) {
  test::CliResult r = test::run_cli("inspect --model '" + test::data_path("tiny-qwen2-vl") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("family        qwen2_vl (Qwen2VLForConditionalGeneration)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 layers, hidden 64, MLP 160, 4 heads / 2 KV heads (head 16), vocab 384"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("M-RoPE sections 2/3/3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LM head untied"), std::string::npos) << r.out;
  // min_pixels 3136 .. max_pixels 18816 of its preprocessor_config.json, 784 pixels a token.
  EXPECT_NE(r.out.find("4 to 24 (min_pixels 3136, max_pixels 18816)"), std::string::npos) << r.out;
  // Hand-counted: text 4 x (q, k, v with biases, o, 3 MLP, 2 norms) + embeddings, norm and head;
  // vision patch embedding, 2 LayerNorm/QuickGELU blocks and the merger.
  EXPECT_NE(r.out.find("parameters    310.144 K (310144)"), std::string::npos) << r.out;

  r = test::run_cli("inspect --json --model '" + test::data_path("tiny-qwen2.5-vl") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = parse_json(r.out, "stdout");
  EXPECT_EQ(j["family"], "qwen2_vl");
  EXPECT_EQ(j["architecture"], "Qwen2_5_VLForConditionalGeneration");
  EXPECT_EQ(j["text"]["tied_lm_head"], true);
  EXPECT_EQ(j["vision"]["fullatt_block_indexes"], Json::array({1, 3}));
  EXPECT_EQ(j["files"], 3);
  // transformers' own count, from the shards' index.
  const Json index = read_json_file(test::data_path("tiny-qwen2.5-vl") + "/model.safetensors.index.json");
  EXPECT_EQ(j["parameters"], index["metadata"]["total_parameters"]);
  EXPECT_EQ(j["dtypes_on_disk_bytes"]["BF16"], index["metadata"]["total_size"]);
}

// The released checkpoints' parameter counts (Qwen2-VL-2B-Instruct 2,208,985,600; Qwen2.5-VL-7B-Instruct
// 8,292,166,656): the presets plan them exactly, and their config.json reads back, without writing 14 GB.
// `run` through the binary on every fixture case: the chat template's ids, the greedy tokens and
// the decoded text equal transformers' (float32; bfloat16 on these cases too: every margin is wider
// than bfloat16 rounding moves it), and the report holds the image's token count.
TEST(QwenCli, RunEqualsTransformers) {
  test::TempDir dir;
  for (const std::string fixture : {"tiny-qwen2-vl", "tiny-qwen2.5-vl"}) {
    const Json ref = read_json_file(test::data_path(fixture) + "/reference.json");
    for (const Json& c : ref["cases"]) {
      for (const std::string dtype : {"f32", "bf16"}) {
        if (dtype == "bf16" && !c.contains("bf16_rounding_model")) continue;
        const std::string out = dir.file("r.json"), question = c["question"].get<std::string>();
        std::string quoted;  // the question in single quotes for the shell
        for (char ch : question) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
        test::CliResult r = test::run_cli("run --model '" + test::data_path(fixture) + "' --image '" +
                                          test::data_path("images/" + c["image"].get<std::string>()) + "' --prompt '" +
                                          quoted + "' --max-new-tokens 8 --no-eos-stop --dtype " + dtype + " --out '" + out + "'");
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const Json report = read_json_file(out);
        const std::string at = fixture + " " + dtype + " " + c["image"].get<std::string>();
        EXPECT_EQ(report["input"]["prompt_ids"], c["input_ids"]) << at;
        EXPECT_EQ(report["output"]["token_ids"], c["new_token_ids"]) << at;
        EXPECT_EQ(r.out, c["decoded"].get<std::string>() + "\n") << at;
        EXPECT_EQ(report["input"]["num_image_features"], c["num_image_tokens"]) << at;
        EXPECT_EQ(report["model"]["family"], "qwen2_vl") << at;
      }
    }
  }
}

TEST(QwenMakeModel, ShapePresetsMatchTheReleasedModels) {
  for (const auto& [preset, parameters] : {std::pair{"qwen2-vl-2b-shape", 2208985600ull}, {"qwen2.5-vl-7b-shape", 8292166656ull}}) {
    MakeModelOptions o;
    o.preset = preset;
    const CheckpointPlan plan = family_of_preset(preset).plan_checkpoint(o);
    EXPECT_EQ(plan.parameters(), parameters) << preset;
    EXPECT_EQ(plan.dtype, DType::BF16) << preset;
    const OrderedJson& config = plan.documents.back().second;
    EXPECT_EQ(plan.documents.back().first, "config.json");
    EXPECT_EQ(config["rope_scaling"]["mrope_section"], OrderedJson::array({16, 24, 24})) << preset;
    EXPECT_EQ(config["image_token_id"], 151655) << preset;
  }
}

TEST(QwenMakeModel, TinyPresetsLoadAndProbe) {
  test::TempDir dir;
  for (const std::string preset : {"qwen2-vl-tiny", "qwen2.5-vl-tiny"}) {
    const std::string fixture = preset == "qwen2-vl-tiny" ? "tiny-qwen2-vl" : "tiny-qwen2.5-vl";
    const std::string model = dir.file(preset);
    test::CliResult r = test::run_cli("make-model --preset " + preset + " --out '" + model + "' --tokenizer '" +
                                      test::data_path(fixture) + "/tokenizer.json'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* f : {"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json"})
      EXPECT_TRUE(fs::exists(model + "/" + f)) << preset << " " << f;
    // The same geometry as the fixture whose tokenizer it took: inspect says the same lines.
    const std::string made = test::run_cli("inspect --json --model '" + model + "'").out;
    const std::string want = test::run_cli("inspect --json --model '" + test::data_path(fixture) + "'").out;
    EXPECT_EQ(parse_json(made, "made")["text"], parse_json(want, "fixture")["text"]) << preset;
    EXPECT_EQ(parse_json(made, "made")["parameters"], parse_json(want, "fixture")["parameters"]) << preset;

    const std::string report = dir.file(preset + ".json");
    r = test::run_cli("run --model '" + model + "' --image '" + test::data_path("images/photos/Animal4.jpg") +
                      "' --prompt 'What is this?' --max-new-tokens 3 --no-eos-stop --out '" + report + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Json j = read_json_file(report);
    EXPECT_EQ(j["model"]["family"], "qwen2_vl");
    EXPECT_EQ(j["output"]["token_ids"].size(), 3u);
  }
}

TEST(QwenMakeModel, RefusesAnImageSize) {
  test::TempDir dir;
  test::CliResult r = test::run_cli("make-model --preset qwen2-vl-tiny --image-size 64 --out '" + dir.file("m") + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("takes images of any size"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lvlm
