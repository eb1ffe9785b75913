// The lvlm-probe binary as a user runs it: exit codes, one clear error line naming the file and
// the problem, and no output file left behind when a command fails.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/report.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

// A writable copy of the tiny fixture to break in various ways.
std::string copy_model(const test::TempDir& dir) {
  const std::string to = dir.file("model");
  fs::copy(test::tiny_model(), to, fs::copy_options::recursive);
  for (auto& e : fs::directory_iterator(to)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  return to;
}

// Rewrites the safetensors header in place (same length) with `edit` applied to its text.
void edit_header(const std::string& file, const std::string& from, const std::string& to) {
  std::string bytes = read_file(file);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  std::string header = bytes.substr(8, n);
  const size_t at = header.find(from);
  ASSERT_NE(at, std::string::npos);
  header.replace(at, from.size(), to);
  header.resize(n, ' ');
  bytes.replace(8, n, header);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

using test::error_lines;

struct Expect {
  int code;
  std::string fragment;
};

void expect_failure(const test::CliResult& r, const Expect& e, const std::string& out_file) {
  EXPECT_EQ(r.exit_code, e.code) << r.err;
  EXPECT_NE(r.err.find(e.fragment), std::string::npos) << "stderr: " << r.err;
  if (e.code == 3) EXPECT_EQ(error_lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  if (!out_file.empty()) EXPECT_FALSE(fs::exists(out_file)) << "a failed run left " << out_file;
}

std::string run_args(const std::string& model, const std::string& image, const std::string& out) {
  return "run --model '" + model + "' --image '" + image + "' --input-ids 1,11,45,510,13,87 --max-new-tokens 2 --out '" +
         out + "'";
}

TEST(Cli, BadCheckpointsAreInputErrors) {
  test::TempDir dir;
  const std::string image = test::tiny_model() + "/test.png", out = dir.file("r.json");
  struct Case {
    std::string name;
    std::function<void(const std::string&)> break_it;
    Expect expect;
  };
  std::vector<Case> cases = {
      {"missing config", [](const std::string& m) { fs::remove(m + "/config.json"); }, {3, "config.json: missing"}},
      {"corrupt config", [](const std::string& m) { write_file_atomic(m + "/config.json", "{\"text_config\": "); },
       {3, "config.json: invalid JSON"}},
      {"unknown architecture",
       [](const std::string& m) { write_file_atomic(m + "/config.json", R"({"architectures": ["GPT2LMHeadModel"]})"); },
       {3, "architecture 'GPT2LMHeadModel' is not supported"}},
      {"truncated safetensors",
       [](const std::string& m) { fs::resize_file(m + "/model.safetensors", fs::file_size(m + "/model.safetensors") - 64); },
       {3, "model.safetensors: tensor"}},
      {"wrong dtype",
       [](const std::string& m) {
         edit_header(m + "/model.safetensors", R"("language_model.model.norm.weight":{"dtype":"F32")",
                     R"("language_model.model.norm.weight":{"dtype":"I32")");
       },
       {3, "tensor 'language_model.model.norm.weight' in model.safetensors has dtype I32, expected F32, F16 or BF16"}},
      {"wrong shape",
       [](const std::string& m) {
         Json c = read_json_file(m + "/config.json");
         c["text_config"]["intermediate_size"] = 100;
         write_file_atomic(m + "/config.json", c.dump());
       },
       {3, "12 problems with the weights: tensor 'language_model.model.layers.0.mlp.gate_proj.weight' in model.safetensors has shape [128, 64], "
          "expected [100, 64] from config.json"}},
      {"no weights", [](const std::string& m) { fs::remove(m + "/model.safetensors"); },
       {3, "no model.safetensors or model.safetensors.index.json"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    test::TempDir scratch;
    const std::string model = copy_model(scratch);
    c.break_it(model);
    expect_failure(test::run_cli(run_args(model, image, out)), c.expect, out);
  }
  expect_failure(test::run_cli(run_args("/nonexistent/model", image, out)), {3, "/nonexistent/model: model directory does not exist"}, out);
}

TEST(Cli, BadImagesAndUsage) {
  test::TempDir dir;
  const std::string out = dir.file("r.json");
  write_file_atomic(dir.file("text.png"), "this is not an image");
  expect_failure(test::run_cli(run_args(test::tiny_model(), dir.file("text.png"), out)), {3, "text.png"}, out);
  expect_failure(test::run_cli(run_args(test::tiny_model(), dir.file("absent.jpg"), out)), {3, "absent.jpg"}, out);
  expect_failure(test::run_cli("run --image x.png --prompt hi"), {2, "--model is required"}, "");
  expect_failure(test::run_cli("run --model m --prompt a --input-ids 1"), {2, "excludes"}, "");
  expect_failure(test::run_cli("run --model '" + test::tiny_model() + "' --prompt a --lens bogus"), {2, "--lens"}, "");
  expect_failure(test::run_cli("frobnicate"), {2, "unknown command 'frobnicate'"}, "");
  expect_failure(test::run_cli("run --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                               "/test.png' --input-ids 1,2,x --out '" + out + "'"),
                 {2, "--input-ids"}, out);
}

TEST(Cli, InspectDescribesTheFixture) {
  test::CliResult r = test::run_cli("inspect --model '" + test::tiny_model() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 layers, hidden 64, MLP 128, 4 heads / 4 KV heads"), std::string::npos) << r.out;
  // Small models in K/M with the exact count and MiB, not "0.000 B" and "0.00 GiB".
  EXPECT_NE(r.out.find("parameters    227.392 K (227392)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("0.00 GiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" MiB"), std::string::npos) << r.out;
  r = test::run_cli("inspect --json --model '" + test::tiny_model() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_json(r.out, "stdout")["parameters"], 227392);
}

TEST(Cli, PreprocessWritesTransformersPixels) {
  test::TempDir dir;
  const std::string out = dir.file("pixels.safetensors");
  test::CliResult r = test::run_cli("preprocess --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                                    "/test.png' --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto file = SafetensorsFile::open(out);
  ASSERT_EQ(file->tensors().size(), 1u);
  const TensorView& t = file->tensors()[0];
  EXPECT_EQ(t.name, "pixel_values");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 3, 32, 32}));
  Json ref = read_json_file(test::tiny_model() + "/reference.json");
  EXPECT_EQ(sha256_hex(t.data, t.nbytes), ref["image"]["pixel_values"]["sha256_f32"].get<std::string>());
}

}  // namespace
}  // namespace lvlm

namespace lvlm {
namespace {

std::string demo_args(const std::string& out) { return "demo --out '" + out + "'"; }

TEST(CliRun, PromptPrintsTheAnswerAndWritesTheReport) {
  test::TempDir dir;
  const std::string out = dir.file("report.json");
  test::CliResult r = test::run_cli("run --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                                    "/test.png' --prompt 'What is shown in this image?' --max-new-tokens 8 --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // transformers' generate on the same prompt (tokenization.json end_to_end).
  Json ref = read_json_file(test::tiny_model() + "/tokenization.json");
  EXPECT_EQ(r.out, ref["end_to_end"]["hf_decode_new_skip_special"].get<std::string>() + "\n");
  Json report = read_report(out);
  EXPECT_EQ(report["input"]["prompt_ids"], ref["end_to_end"]["input_ids"]);
  EXPECT_EQ(report["output"]["token_ids"], ref["end_to_end"]["new_token_ids"]);
  EXPECT_NE(r.err.find("critical layer"), std::string::npos) << r.err;
}

TEST(CliRun, OutDashWritesOnlyJsonToStdout) {
  test::CliResult r = test::run_cli("run --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                                    "/test.png' --prompt hi --max-new-tokens 2 --out -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json report = parse_json(r.out, "stdout");  // nothing but the report on stdout
  validate_report(report, "stdout");
  EXPECT_EQ(report["output"]["token_ids"].size(), 2u);
}

TEST(CliRun, SkipOptionsAreCheckedAndLogged) {
  test::TempDir dir;
  const std::string out = dir.file("report.json");
  const std::string run = run_args(test::tiny_model(), test::tiny_model() + "/test.png", out);
  test::CliResult r = test::run_cli(run + " --skip-layers 2-3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipping layers 2-3:"), std::string::npos) << r.err;  // the layers, not their count
  expect_failure(test::run_cli(run + " --skip-layers 2 --skip stabilization"),
                 {2, "--skip-layers and --skip stabilization do not go together"}, "");
  fs::remove(out);
  expect_failure(test::run_cli(run + " --skip-layers 3-9"), {2, "--skip-layers: layer 5 is outside 1-4"}, out);
  // An undetermined c leaves no stabilization to skip: said in the log and the report.
  r = test::run_cli(run + " --skip stabilization");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--skip stabilization: the critical layer is undetermined"), std::string::npos) << r.err;
  EXPECT_NE(read_report(out)["skip"]["note"].get<std::string>().find("undetermined"), std::string::npos);
}

// One decoder layer: one divergence per token, nothing to split into stages, and still a report,
// a page and a check against itself.
TEST(CliRun, AOneLayerModelGetsAReportWithUndeterminedStages) {
  test::TempDir dir;
  const std::string model = dir.file("one-layer"), out = dir.file("report.json");
  test::CliResult r = test::run_cli("make-model --preset tiny --layers 1 --out '" + model + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = run_args(model, test::tiny_model() + "/test.png", out);
  r = test::run_cli(run + " --html '" + dir.file("report.html") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json report = read_report(out);
  EXPECT_EQ(report["model"]["num_layers"], 1);
  EXPECT_TRUE(report["stages"]["critical_layer"].is_null());
  EXPECT_TRUE(report["stages"]["mutation_layer"].is_null());
  EXPECT_TRUE(std::filesystem::file_size(dir.file("report.html")) > 0);
  EXPECT_EQ(test::run_cli("check --baseline '" + out + "' --candidate '" + out + "'").exit_code, 0);
  fs::remove(out);
  expect_failure(test::run_cli(run + " --stages fixed --critical-layer 1"),
                 {2, "--stages fixed needs a model of 2 layers or more"}, out);
}

TEST(CliRun, ImagePositionsAndAttentionReachReportAndPage) {
  test::TempDir dir;
  const std::string out = dir.file("report.json"), page = dir.file("page.html");
  const std::string run = run_args(test::tiny_model(), test::tiny_model() + "/test.png", out);
  expect_failure(test::run_cli(run + " --positions patches"), {2, "--positions"}, out);
  expect_failure(test::run_cli(run + " --attention=maybe"), {2, "--attention"}, out);
  test::CliResult r = test::run_cli(run + " --positions image --attention --html '" + page + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json report = read_report(out);
  EXPECT_EQ(report["image_positions"]["layers"].size(), 5u);
  EXPECT_EQ(report["tokens"][1]["attention"]["layers"].size(), 4u);
  EXPECT_FALSE(report.contains("prompt_positions"));
  const std::string html = read_file(page);
  EXPECT_NE(html.find("Logit lens on the image patches"), std::string::npos);
  EXPECT_NE(html.find("Attention to the image per layer"), std::string::npos);
  // --positions all: both sections and the prompt positions; attention without asking.
  ASSERT_EQ(test::run_cli(run + " --positions all").exit_code, 0);
  report = read_report(out);
  EXPECT_EQ(report["settings"]["positions"], "all");
  EXPECT_EQ(report["settings"]["attention"], true);
  EXPECT_TRUE(report["attention"].is_object());
  // The image lens there repeats prompt_positions' numbers at the image positions.
  const Json& image = report["image_positions"];
  const int first = image["start"].get<int>();
  EXPECT_EQ(image["layers"][2]["entropy"][0], report["prompt_positions"][first]["entropy"][2]);
  // Without the options the report has neither section.
  ASSERT_EQ(test::run_cli(run).exit_code, 0);
  report = read_report(out);
  EXPECT_FALSE(report.contains("image_positions"));
  EXPECT_FALSE(report.contains("attention"));
  EXPECT_FALSE(report["tokens"][0].contains("attention"));
}

TEST(CliRun, ReducedMathFastNeedsAReducedDtype) {
  test::TempDir dir;
  const std::string out = dir.file("report.json");
  expect_failure(test::run_cli(run_args(test::tiny_model(), test::tiny_model() + "/test.png", out) +
                               " --dtype f32 --reduced-math fast"),
                 {2, "--reduced-math fast applies to --dtype bf16 or f16"}, out);
}

// Without AVX-512 (BW, VL, DQ) libtorch's bfloat16 products are many times slower than float32:
// an exact bf16 run says so and names the faster choices; other runs, and CPUs with AVX-512, stay quiet.
TEST(CliRun, SlowBfloat16ProductsAreAnnounced) {
  const bool slow_bf16 = !(__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                           __builtin_cpu_supports("avx512dq"));
  test::TempDir dir;
  const std::string run = run_args(test::tiny_model(), test::tiny_model() + "/test.png", dir.file("report.json"));
  const std::string warning = "warning: --dtype bf16: this CPU has no AVX-512";
  for (const auto& [flags, announced] : std::vector<std::pair<std::string, bool>>{
           {" --dtype bf16", slow_bf16},
           {" --dtype bf16 --device cpu-generic", slow_bf16},
           {" --dtype bf16 --reduced-math fast", false},
           {" --dtype f32", false}}) {
    test::CliResult r = test::run_cli(run + flags);
    ASSERT_EQ(r.exit_code, 0) << flags << "\n" << r.err;
    EXPECT_EQ(r.err.find(warning) != std::string::npos, announced) << flags << "\n" << r.err;
    if (announced) {
      const bool generic = flags.find("cpu-generic") != std::string::npos;
      EXPECT_EQ(r.err.find("--reduced-math fast (float32 products") != std::string::npos, !generic) << r.err;
      EXPECT_NE(r.err.find("--dtype f32 is much faster here"), std::string::npos) << r.err;
    }
  }
  // bench says it once, not once for each process it measures in.
  test::CliResult r = test::run_cli("bench --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                                    "/test.png' --prompt hi --max-new-tokens 2 --repeat 2 --threads 1 --dtype bf16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t count = 0;
  for (size_t at = r.err.find(warning); at != std::string::npos; at = r.err.find(warning, at + 1)) ++count;
  EXPECT_EQ(count, slow_bf16 ? 1u : 0u) << r.err;
}

TEST(CliAnalyze, ReanalysesAReportWithoutTheModel) {
  test::TempDir dir;
  const std::string base = dir.file("base.json"), again = dir.file("again.json"), page = dir.file("again.html");
  ASSERT_EQ(test::run_cli(demo_args(base)).exit_code, 0);
  test::CliResult r = test::run_cli("analyze '" + base + "' --out '" + again + "' --html '" + page + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json a = read_report(base), b = read_report(again);
  EXPECT_EQ(a["stages"], b["stages"]);  // the same options reproduce the stages exactly
  EXPECT_EQ(a["tokens"], b["tokens"]);
  EXPECT_EQ(a["layers"], b["layers"]);
  EXPECT_TRUE(fs::exists(page));
  // Other options: a given critical layer.
  ASSERT_EQ(test::run_cli("analyze '" + base + "' --stages fixed --critical-layer 2 --out '" + again + "'").exit_code, 0);
  const Json fixed = read_report(again);
  EXPECT_EQ(fixed["stages"]["method"], "fixed");
  EXPECT_EQ(fixed["stages"]["critical_layer"], 2);
  EXPECT_EQ(fixed["layers"][2]["stage"], "rapid_evolution");
  // A version-1 report comes out as version 2.
  ASSERT_EQ(test::run_cli("analyze '" + std::string(LVLM_TEST_DATA) + "/reports/demo-report.json' --out '" + again +
                          "'").exit_code, 0);
  EXPECT_EQ(read_report(again)["schema"], kReportSchema);
  // Bad input and usage: one clear line, nothing written.
  const std::string none = dir.file("none.json");
  expect_failure(test::run_cli("analyze '" + dir.file("missing.json") + "' --out '" + none + "'"), {3, "missing.json"},
                 none);
  expect_failure(test::run_cli("analyze '" + base + "' --stages auto --critical-layer 2 --out '" + none + "'"),
                 {2, "--critical-layer needs --stages fixed"}, none);
}

TEST(CliCheck, ExitCodesOnIdenticalShiftedAndCorruptReports) {
  test::TempDir dir;
  const std::string base = dir.file("base.json");
  ASSERT_EQ(test::run_cli(demo_args(base)).exit_code, 0);
  const std::string check = "check --baseline '" + base + "' --candidate ";
  test::CliResult same = test::run_cli(check + "'" + base + "'");
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.out.find("OK"), std::string::npos);

  // Give the baseline a confident boundary to move, and a candidate that leaves it undetermined.
  Json confident = read_json_file(base);
  confident["stages"]["critical_layer"] = 1, confident["stages"]["critical_confidence"] = 0.9;
  write_file_atomic(dir.file("confident.json"), confident.dump());
  Json shifted = confident;
  shifted["stages"]["critical_layer"] = 3;
  write_file_atomic(dir.file("shifted.json"), shifted.dump());
  const std::string from = "check --baseline '" + dir.file("confident.json") + "' --candidate ";
  test::CliResult moved = test::run_cli(from + "'" + dir.file("shifted.json") + "'");
  EXPECT_EQ(moved.exit_code, 1);
  EXPECT_NE(moved.out.find("REGRESSION critical_layer: moved from 1 to 3 (by 2 > tolerance 1)"), std::string::npos)
      << moved.out;
  EXPECT_EQ(test::run_cli(from + "'" + dir.file("shifted.json") + "' --tolerance 2").exit_code, 0);
  // Below --min-confidence: not compared.
  EXPECT_EQ(test::run_cli(from + "'" + dir.file("shifted.json") + "' --min-confidence 0.95").exit_code, 0);
  // Determined in the baseline, undetermined in the candidate: a change.
  Json undetermined = confident;
  undetermined["stages"]["critical_layer"] = nullptr, undetermined["stages"]["critical_confidence"] = 0.1;
  write_file_atomic(dir.file("undetermined.json"), undetermined.dump());
  test::CliResult lost = test::run_cli(from + "'" + dir.file("undetermined.json") + "'");
  EXPECT_EQ(lost.exit_code, 1);
  EXPECT_NE(lost.out.find("REGRESSION critical_layer: changed: baseline 1 (confidence 0.90), candidate undetermined"),
            std::string::npos)
      << lost.out;
  // Another lens: not comparable (exit 2) unless allowed.
  Json raw = read_json_file(base);
  raw["settings"]["lens"] = "raw";
  write_file_atomic(dir.file("raw.json"), raw.dump());
  test::CliResult other = test::run_cli(check + "'" + dir.file("raw.json") + "'");
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.err.find("not comparable: lens \"norm\" vs \"raw\""), std::string::npos) << other.err;
  EXPECT_EQ(test::run_cli(check + "'" + dir.file("raw.json") + "' --allow-different lens").exit_code, 0);

  Json tokens = read_json_file(base);
  tokens["output"]["token_ids"][3] = 7;
  write_file_atomic(dir.file("tokens.json"), tokens.dump());
  test::CliResult changed = test::run_cli(check + "'" + dir.file("tokens.json") + "'");
  EXPECT_EQ(changed.exit_code, 1);
  EXPECT_NE(changed.out.find("REGRESSION output tokens: differ from step 3"), std::string::npos) << changed.out;

  write_file_atomic(dir.file("corrupt.json"), "{\"schema\": \"lvlm-probe/report/2\", ");
  EXPECT_EQ(test::run_cli(check + "'" + dir.file("corrupt.json") + "'").exit_code, 3);
  Json future = read_json_file(base);
  future["schema"] = "lvlm-probe/report/9";
  write_file_atomic(dir.file("future.json"), future.dump());
  test::CliResult v9 = test::run_cli(check + "'" + dir.file("future.json") + "'");
  EXPECT_EQ(v9.exit_code, 3);
  EXPECT_NE(v9.err.find("report schema lvlm-probe/report/9 is not supported"), std::string::npos) << v9.err;
  EXPECT_EQ(test::run_cli("check --baseline '" + base + "'").exit_code, 2);
}

}  // namespace
}  // namespace lvlm

namespace lvlm {
namespace {

TEST(CliRender, ReportToPageAndBadInput) {
  test::TempDir dir;
  const std::string report = test::data_path("reports/demo-report.json"), page = dir.file("page.html");
  test::CliResult r = test::run_cli("render '" + report + "' --out '" + page + "' --focus 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = read_file(page);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Token #2"), std::string::npos);
  write_file_atomic(dir.file("bad.json"), R"({"schema": "something/else"})");
  test::CliResult bad = test::run_cli("render '" + dir.file("bad.json") + "' --out '" + dir.file("bad.html") + "'");
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find(dir.file("bad.json")), std::string::npos) << bad.err;
  EXPECT_FALSE(file_exists(dir.file("bad.html")));
  EXPECT_EQ(test::run_cli("render '" + report + "' --focus 99 --out '" + dir.file("x.html") + "'").exit_code, 2);
}

TEST(CliRender, RunWritesTheHtmlBesideTheReport) {
  test::TempDir dir;
  test::CliResult r = test::run_cli("demo --out '" + dir.file("r.json") + "' --html '" + dir.file("r.html") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(dir.file("r.html")).find("lvlm-probe report"), std::string::npos);
}

TEST(CliRender, TsneFromTheDumpedFeatures) {
  test::TempDir dir;
  const std::string features = dir.file("f.safetensors"), report = dir.file("r.json");
  test::CliResult r = test::run_cli("run --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                                    "/test.png' --prompt 'What is shown in this image?' --max-new-tokens 4 --out '" +
                                    report + "' --dump-features '" + features + "' --html '" + dir.file("run.html") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(dir.file("run.html")).find("Hidden states of this image: t-SNE"), std::string::npos);
  r = test::run_cli("render '" + report + "' --features '" + features + "' --tsne paper --out '" + dir.file("p.html") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = read_file(dir.file("p.html"));
  EXPECT_NE(html.find("tsne.py\xE2\x80\x99s fixed groups"), std::string::npos);
  EXPECT_NE(html.find("competitors"), std::string::npos) << "the report's complete curves";
  // A features file of another model, and a missing one: exit 3 naming the file, no page.
  r = test::run_cli("render '" + report + "' --features '" + dir.file("nope.safetensors") + "' --out '" + dir.file("x.html") + "'");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("nope.safetensors"), std::string::npos) << r.err;
  EXPECT_FALSE(file_exists(dir.file("x.html")));
  EXPECT_EQ(test::run_cli("render '" + report + "' --tsne umap --out '" + dir.file("x.html") + "'").exit_code, 2);
}

}  // namespace
}  // namespace lvlm

namespace lvlm {
namespace {

// The demo runs nano-llava (tests/data/nano-llava) on its scene: a red circle left of a blue triangle.
TEST(CliDemo, AnswersInWordsAndTakesTheUsersImageAndQuestion) {
  test::TempDir dir;
  test::CliResult r = test::run_cli("demo --threads 1 --out '" + dir.file("r.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a red circle and a blue triangle.\n");
  const std::string model = test::data_path("nano-llava");
  test::CliResult own = test::run_cli("demo --threads 1 --image '" + model + "/scene-one.png' --prompt 'What color is the square?' --out '" +
                                      dir.file("own.json") + "'");
  ASSERT_EQ(own.exit_code, 0) << own.err;
  EXPECT_EQ(own.out, "green.\n");
  EXPECT_EQ(read_report(dir.file("own.json"))["input"]["image"], model + "/scene-one.png");
}

TEST(CliDemo, WithoutTheModelSaysWhereItLooked) {
  test::TempDir empty;
  ASSERT_EQ(setenv("LVLM_PROBE_DATA", empty.file("").c_str(), 1), 0);  // as an installed binary without the tree
  test::CliResult r = test::run_cli("demo --out '" + empty.file("r.json") + "'");
  unsetenv("LVLM_PROBE_DATA");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("tests/data/nano-llava"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("LVLM_PROBE_DATA"), std::string::npos) << r.err;
  EXPECT_FALSE(file_exists(empty.file("r.json")));
}

}  // namespace
}  // namespace lvlm

#include <signal.h>
#include <sys/resource.h>

namespace lvlm {
namespace {

// --- outputs: all or nothing, and stdout write errors (docs/hardening.md, "Outputs") ------------

std::string run_with_page(const std::string& dir) {
  return "run --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
         "/test.png' --input-ids 1,11,45,510,13,87 --max-new-tokens 2 --out '" + dir + "/r.json' --html '" + dir +
         "/r.html'";
}

// The page fails after the report was written (a file-size limit between the two sizes stands in
// for a full disk): neither is left, and the exit code says so.
TEST(CliOutputs, ALateFailingOutputLeavesNoneOfTheCommandsOutputs) {
  test::TempDir good, bad;
  ASSERT_EQ(test::run_cli(run_with_page(good.path())).exit_code, 0);
  const auto report = fs::file_size(good.file("r.json")), page = fs::file_size(good.file("r.html"));
  ASSERT_LT(report + 4096, page) << "the page embeds the report, so it is the larger file";
  rlimit old{}, limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  limit = old;
  limit.rlim_cur = (report + page) / 2;  // inherited by the child, as is the ignored SIGXFSZ
  auto* previous = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  const test::CliResult r = test::run_cli(run_with_page(bad.path()));
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, previous);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("error: " + bad.file("r.html") + ": write failed: File too large"), std::string::npos) << r.err;
  EXPECT_EQ(error_lines(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(fs::is_empty(bad.path())) << "left behind: " << fs::directory_iterator(bad.path())->path();
}

// Runs lvlm-probe with stdout on /dev/full (a device whose writes fail with ENOSPC).
test::CliResult run_into_full_device(const std::string& args) {
  test::TempDir tmp;
  const std::string cmd = std::string("'") + LVLM_CLI + "' " + args + " >/dev/full 2>" + tmp.file("err");
  const int status = std::system(cmd.c_str());
  test::CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.err = read_file(tmp.file("err"));
  return r;
}

TEST(CliOutputs, WriteErrorsOnStdoutAreErrors) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string report = test::data_path("reports/demo-report.json");
  for (const std::string& args : {"render '" + report + "' --out -", "inspect --model '" + test::tiny_model() + "'",
                                  "check --baseline '" + report + "' --candidate '" + report + "'"}) {
    SCOPED_TRACE(args);
    const test::CliResult r = run_into_full_device(args);
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find("error: stdout: write failed: No space left on device"), std::string::npos) << r.err;
    EXPECT_EQ(error_lines(r.err).size(), 1u) << r.err;
  }
}

}  // namespace
}  // namespace lvlm
