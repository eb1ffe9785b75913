// `lvlm-probe evaluate` end to end: a batch run of nano-llava on its drawn scenes with hand-made
// AMBER annotations (tests/data/amber), evaluated through the CLI, its page opened in headless
// Chromium, and its refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lvlm_probe/json.h"
#include "render/xml_check.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;
using test::data_path;
using test::run_cli;

std::string quoted(const std::string& s) { return "'" + s + "'"; }

class EvaluateCli : public ::testing::Test {
 protected:
  // One batch run for all tests: nano-llava describes the scenes of queries 1-3 right, as its model
  // card says ("a red circle and a blue triangle." on scene.png, ...); item 16's image is missing.
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    const auto r = run_cli("batch --model " + quoted(data_path("nano-llava")) + " --dataset amber --data " +
                           quoted(data_path("amber/query.json")) + " --images " + quoted(data_path("nano-llava")) +
                           " --out " + quoted(run()) + " --threads 1 --feature-steps none");
    ASSERT_EQ(r.exit_code, 3) << r.err;  // item 16 failed
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string run() { return dir_->file("run"); }
  static std::string evaluate(const std::string& runs, const std::string& extra = "") {
    return "evaluate " + runs + " --amber " + quoted(data_path("amber")) + " --wordnet " +
           quoted(data_path("amber/wordnet")) + " " + extra;
  }
  static test::TempDir* dir_;
};
test::TempDir* EvaluateCli::dir_ = nullptr;

TEST_F(EvaluateCli, AmberFiguresOfTheRunAndItsFailedItem) {
  test::TempDir out;
  const auto r = run_cli(evaluate(quoted(run()), "--out " + quoted(out.file("e.json"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("1 of 6 items failed in the batch"), std::string::npos) << r.err;
  const Json e = read_json_file(out.file("e.json"));
  EXPECT_EQ(e["schema"], "lvlm-probe/eval/1");
  ASSERT_EQ(e["answers"][0]["text"], "a red circle and a blue triangle.");
  ASSERT_EQ(e["answers"][1]["text"], "a green square.");
  ASSERT_EQ(e["answers"][2]["text"], "a yellow square and a blue circle.");
  EXPECT_EQ(e["items"], Json({{"total", 6}, {"ok", 5}, {"failed", 1}, {"generative", 3}, {"discriminative", 2}}));
  EXPECT_EQ(e["failed_items"][0]["id"], "16");
  EXPECT_NE(e["failed_items"][0]["reason"].get<std::string>().find("missing.png"), std::string::npos);
  // The annotations call some drawn shapes hallucinations, so that every metric has cases:
  // 1: circle (truth), triangle (hallu); 2: square (truth; circle not named); 3: square (truth),
  // circle (hallu). Objects 5, hallucinated 2; truth entries 4, named 3; hallu entries 4, named 2;
  // answers with a hallucination 2 of 3.
  const Json& g = e["generative"];
  EXPECT_NEAR(g["chair"].get<double>(), 40.0, 1e-9);
  EXPECT_NEAR(g["cover"].get<double>(), 75.0, 1e-9);
  EXPECT_NEAR(g["hal"].get<double>(), 200.0 / 3, 1e-9);
  EXPECT_NEAR(g["cog"].get<double>(), 50.0, 1e-9);
  // The yes/no queries: item 4 (a circle on scene.png) gets "yes.", right; item 5 gets "n.", neither
  // yes nor no (the model learned "Is there a {shape}?" without AMBER's "in this image"), so wrong.
  EXPECT_EQ(e["discriminative"]["existence"]["unparsed"], 1);
  EXPECT_EQ(e["discriminative"]["all"]["accuracy"], 50.0);
  EXPECT_NE(r.err.find("accuracy 50.0, precision n/a, recall 0.0, F1 n/a (1 of 2 answers neither yes nor no)"),
            std::string::npos) << r.err;
  EXPECT_EQ(e["groups"]["grounded"]["mentions"], 3);
  EXPECT_EQ(e["groups"]["hallucinated"]["mentions"], 2);
}

TEST_F(EvaluateCli, EachObjectWordCarriesItsTokensLayers) {
  test::TempDir out;
  ASSERT_EQ(run_cli(evaluate(quoted(run()), "--out " + quoted(out.file("e.json")))).exit_code, 0);
  const Json e = read_json_file(out.file("e.json"));
  const Json report = read_json_file(run() + "/reports/1.json");
  const Json& triangle = e["mentions"][1];
  EXPECT_EQ(triangle["word"], "triangle");
  EXPECT_EQ(triangle["group"], "hallucinated");
  const Json& token = report["tokens"][triangle["step"].get<size_t>()];
  EXPECT_EQ(token["piece"], " triangle");
  for (const char* key : {"p_token", "d_prev", "d_final", "critical_layer", "mutation_layer"})
    EXPECT_EQ(triangle[key], token[key]) << key;
  // Per layer, the hallucinated group's median over its 2 words (triangle, then answer 3's circle)
  // is their mean.
  const int L = report["model"]["num_layers"];
  EXPECT_EQ(e["mentions"][4]["group"], "hallucinated");
  const double mean = (e["mentions"][1]["p_token"][L].get<double>() + e["mentions"][4]["p_token"][L].get<double>()) / 2;
  EXPECT_NEAR(e["groups"]["hallucinated"]["layers"][L]["p_token"]["median"].get<double>(), mean, 1e-12);
  const Json& critical = e["groups"]["hallucinated"]["critical_layer"];
  size_t counted = critical["undetermined"].get<size_t>();
  for (const Json& c : critical["histogram"]) counted += c.get<size_t>();
  EXPECT_EQ(counted, 2u);
}

TEST_F(EvaluateCli, PageOpensInHeadlessChromium) {
  test::TempDir out;
  const auto r = run_cli(evaluate(quoted(run()), "--out " + quoted(out.file("e.json")) + " --html " +
                                                     quoted(out.file("e.html"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_file(out.file("e.html"));
  EXPECT_EQ(test::XmlCheck::check(page), "");
  EXPECT_EQ(test::count(page, "<svg"), 5u);  // 3 layer charts, 2 histograms
  if (std::system("command -v chromium >/dev/null 2>&1") != 0) GTEST_SKIP() << "chromium is not installed";
  const std::string cmd = "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run "
                          "--user-data-dir=" + quoted(out.file("profile")) + " --dump-dom " +
                          quoted("file://" + out.file("e.html")) + " >" + quoted(out.file("dom")) + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string dom = read_file(out.file("dom"));
  EXPECT_NE(dom.find("Grounded and hallucinated object words, layer by layer"), std::string::npos);
  EXPECT_NE(dom.find("<td class=\"num\">40</td>"), std::string::npos);  // CHAIR
  EXPECT_EQ(test::count(dom, "<svg"), 5u);
}

TEST_F(EvaluateCli, AnAnswerItsPiecesDoNotSpellIsNamed) {
  test::TempDir d;
  fs::copy(run(), d.file("run"), fs::copy_options::recursive);
  Json report = read_json_file(d.file("run/reports/2.json"));
  report["output"]["text"] = "a green circle and a dog.";
  write_file_atomic(d.file("run/reports/2.json"), report.dump());
  const auto r = run_cli(evaluate(quoted(d.file("run")), "--out " + quoted(d.file("e.json"))));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(d.file("run/reports/2.json") + ": 2 object words in output.text, 1 in the tokens' pieces"),
            std::string::npos)
      << r.err;
  const Json e = read_json_file(d.file("e.json"));
  EXPECT_EQ(e["generative"]["counts"]["objects"], 6);  // the metrics score output.text
  EXPECT_EQ(e["mentions"].size(), 5u);                // the link follows the tokens
}

void expect_refused(const test::CliResult& r, int code, const std::string& text) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(EvaluateCli, BadInputsAreRefusedInOneLineWithoutOutput) {
  test::TempDir d;
  const std::string out = " --out " + quoted(d.file("e.json"));
  // AMBER's files.
  fs::create_directories(d.file("amber"));
  for (const char* f : {"annotations.json", "safe_words.txt"}) fs::copy(data_path("amber/") + f, d.file("amber/") + f);
  expect_refused(run_cli("evaluate " + quoted(run()) + " --amber " + quoted(d.file("amber")) + " --wordnet " +
                         quoted(data_path("amber/wordnet")) + out),
                 3, d.file("amber/relation.json"));
  // WordNet's.
  expect_refused(run_cli("evaluate " + quoted(run()) + " --amber " + quoted(data_path("amber")) + " --wordnet " +
                         quoted(d.path()) + out),
                 3, d.file("index.noun") + ": missing");
  // A query id the annotations lack.
  fs::copy(data_path("amber/relation.json"), d.file("amber/relation.json"));
  Json annotations = read_json_file(data_path("amber/annotations.json"));
  annotations.erase(2);  // id 3
  write_file_atomic(d.file("amber/annotations.json"), annotations.dump());
  expect_refused(run_cli("evaluate " + quoted(run()) + " --amber " + quoted(d.file("amber")) + " --wordnet " +
                         quoted(data_path("amber/wordnet")) + out),
                 3, "query id 3 has no entry");
  // A report without the pieces of its tokens.
  fs::copy(run(), d.file("run"), fs::copy_options::recursive);
  Json report = read_json_file(d.file("run/reports/2.json"));
  for (Json& t : report["tokens"]) t.erase("piece");
  write_file_atomic(d.file("run/reports/2.json"), report.dump());
  expect_refused(run_cli(evaluate(quoted(d.file("run")), out)), 3, d.file("run/reports/2.json") + ": tokens[0]: no 'piece'");
  // A report whose lens setting is not a string: it differs from the others' and is named.
  fs::remove_all(d.file("run"));
  fs::copy(run(), d.file("run"), fs::copy_options::recursive);
  report = read_json_file(d.file("run/reports/2.json"));
  report["settings"]["lens"] = 5;
  write_file_atomic(d.file("run/reports/2.json"), report.dump());
  expect_refused(run_cli(evaluate(quoted(d.file("run")), out)), 3, d.file("run/reports/2.json") + ": cannot be evaluated with");
  // The same run twice.
  expect_refused(run_cli(evaluate(quoted(run()) + " " + quoted(run() + "/."), out)), 2, "are the same run directory");
  EXPECT_FALSE(fs::exists(d.file("e.json")));
}

TEST_F(EvaluateCli, RunsOfAnotherDataSetAreRefused) {
  test::TempDir d;
  std::ofstream(d.file("items.jsonl")) << Json{{"id", "1"}, {"image", data_path("tiny-llava/test.png")}, {"prompt", "Q"}}.dump()
                                       << "\n";
  ASSERT_EQ(run_cli("batch --model " + quoted(test::tiny_model()) + " --dataset jsonl --data " +
                    quoted(d.file("items.jsonl")) + " --out " + quoted(d.file("run")) +
                    " --max-new-tokens 2 --threads 1 --feature-steps none")
                .exit_code,
            0);
  expect_refused(run_cli(evaluate(quoted(d.file("run")), "--out " + quoted(d.file("e.json")))), 3,
                 d.file("run/run.json") + ": a run of data set 'jsonl'");
  EXPECT_FALSE(fs::exists(d.file("e.json")));
}

TEST_F(EvaluateCli, RunsOfModelsWithOtherLayersAreRefused) {
  test::TempDir d;
  ASSERT_EQ(run_cli("batch --model " + quoted(test::tiny_model()) + " --dataset amber --data " +
                    quoted(data_path("amber/query.json")) + " --images " + quoted(data_path("nano-llava")) +
                    " --out " + quoted(d.file("run")) + " --max-new-tokens 2 --threads 1 --feature-steps none")
                .exit_code,
            3);  // item 16 failed
  const auto r = run_cli(evaluate(quoted(run()) + " " + quoted(d.file("run")), "--out " + quoted(d.file("e.json"))));
  expect_refused(r, 3, "cannot be evaluated with " + run() + "/reports/1.json: num_layers:");
}

}  // namespace
}  // namespace lvlm
