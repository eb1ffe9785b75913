// The report's stage parts: `analyze` (reanalyze_report) reproduces what `run` wrote and reads
// version-1 reports; `check` (check_reports) compares like with like and only confident
// boundaries.
#include <cmath>
#include <functional>
#include <random>

#include "lvlm_probe/report.h"
#include "test_util.h"

namespace lvlm {
namespace {

// A 32-layer run of `tokens` tokens whose d_prev follow the paper's shape (decay to 18, plateau,
// jump at 28) with log-normal noise; the other arrays are plausible filler.
ProbeResult synthetic_run(int tokens, LensMode lens, const StageOptions& stages, unsigned seed) {
  const int L = 32;
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.3);
  ProbeResult r;
  r.model.family = "llava", r.model.architecture = "LlavaForConditionalGeneration", r.model.path = "m";
  r.model.num_layers = L, r.model.hidden_size = 4096, r.model.vocab_size = 32064;
  r.model.compute_dtype = "f32", r.model.device = "cpu", r.model.weights_dtype = "F32";
  r.request.lens = lens;
  r.request.stages = stages;
  r.request.stages.final_norm_step = lens == LensMode::hf;
  r.prompt_ids = {1, 2, 3};
  r.image_sha256 = "ab";
  r.stop_reason = "max_new_tokens";
  r.pieces = {{7, "x"}};
  for (int t = 0; t < tokens; ++t) {
    TokenTrace tr;
    tr.step = t, tr.position = 10 + t, tr.token_id = 7;
    for (int l = 0; l <= L; ++l) {
      const double x = l <= 18 ? -3.0 * (l - 1) / 17 : l == 28 ? -1.0 : l > 28 ? -4.0 : -7.0;
      tr.d_prev.push_back(l == 0 ? NAN : std::exp(x + noise(rng) + (lens == LensMode::hf && l == L ? 6 : 0)));
      tr.p_token.push_back(0.5), tr.rank.push_back(1), tr.entropy.push_back(1.0), tr.d_final.push_back(0.1);
      tr.h_norm.push_back(l + 1.0), tr.cos_prev.push_back(l ? 0.9 : NAN), tr.cos_final.push_back(0.8);
      tr.topk_ids.push_back({7}), tr.topk_probs.push_back({0.5});
    }
    r.tokens.push_back(tr);
    r.token_ids.push_back(7);
    r.token_texts.push_back("x");
  }
  std::vector<std::vector<double>> d;
  for (const auto& tr : r.tokens) d.emplace_back(tr.d_prev.begin() + 1, tr.d_prev.end());
  r.stages = detect_stages(d, r.request.stages);
  return r;
}

Json plain(const OrderedJson& j) { return Json::parse(j.dump()); }

void expect_same_stages(const Json& a, const Json& b) {
  EXPECT_EQ(a["stages"], b["stages"]);
  EXPECT_EQ(a["settings"], b["settings"]);
  EXPECT_EQ(a["layers"], b["layers"]);
  ASSERT_EQ(a["tokens"].size(), b["tokens"].size());
  for (size_t t = 0; t < a["tokens"].size(); ++t) EXPECT_EQ(a["tokens"][t], b["tokens"][t]) << "token " << t;
}

TEST(Analyze, ReproducesTheStagesOfRun) {
  StageOptions fixed;
  fixed.method = StageOptions::Method::fixed;
  fixed.config = load_stage_config(std::string(LVLM_SOURCE_DIR) + "/configs/llava-1.5-7b.json");
  StageOptions by_layer;
  by_layer.method = StageOptions::Method::fixed, by_layer.critical_layer = 17;
  struct Case {
    LensMode lens;
    StageOptions stages;
  } cases[] = {{LensMode::norm, {}}, {LensMode::hf, {}}, {LensMode::raw, fixed}, {LensMode::norm, by_layer}};
  for (const Case& c : cases) {
    const OrderedJson report = build_report(synthetic_run(9, c.lens, c.stages, 4));
    const OrderedJson again = reanalyze_report(report, stage_options_of_report(plain(report)), "report.json");
    expect_same_stages(plain(report), plain(again));
    EXPECT_EQ(dump_json(report), dump_json(again));  // key order included
  }
  const Json hf = plain(build_report(synthetic_run(9, LensMode::hf, {}, 4)));
  EXPECT_EQ(hf["stages"]["mutation_layer"], 28);
  EXPECT_EQ(hf["stages"]["final_norm_step"]["layer"], 32);
}

TEST(Analyze, OtherOptionsAndVersionOneReports) {
  const OrderedJson report = build_report(synthetic_run(9, LensMode::hf, {}, 5));
  StageOptions include = stage_options_of_report(plain(report));
  include.search_final_norm_step = true;
  const Json with_step = plain(reanalyze_report(report, include, "r.json"));
  EXPECT_EQ(with_step["stages"]["mutation_layer"], 32);
  EXPECT_EQ(with_step["settings"]["stages"]["final_norm_step"], "include");
  EXPECT_EQ(with_step["layers"][32]["stage"], "mutation");

  // A version-1 report becomes a valid version-2 one.
  const std::string v1_path = std::string(LVLM_TEST_DATA) + "/reports/demo-report.json";
  const Json v1 = read_report(v1_path);
  ASSERT_EQ(v1["schema"], kReportSchemaV1);
  const OrderedJson v2 = reanalyze_report(OrderedJson::parse(read_file(v1_path)), stage_options_of_report(v1), v1_path);
  const Json out = plain(v2);
  EXPECT_EQ(out["schema"], kReportSchema);
  validate_report(out, "analyzed");
  EXPECT_TRUE(out["stages"].contains("critical_confidence"));
  EXPECT_FALSE(out["stages"].contains("confidence"));
  EXPECT_TRUE(out["tokens"][0].contains("mutation_confidence"));

  // Without every layer's divergence there is nothing to fit: the file is named.
  OrderedJson broken = report;
  broken["tokens"][2]["d_prev"][5] = nullptr;
  try {
    reanalyze_report(broken, {}, "broken.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json: tokens[2].d_prev[5] is not a number"), std::string::npos)
        << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// check

Json with_stages(Json report, const Json& c, double c_conf, const Json& m, double m_conf) {
  report["stages"]["critical_layer"] = c, report["stages"]["critical_confidence"] = c_conf;
  report["stages"]["mutation_layer"] = m, report["stages"]["mutation_confidence"] = m_conf;
  return report;
}

TEST(Check, RefusesReportsThatAreNotComparable) {
  const Json base = plain(build_report(synthetic_run(5, LensMode::norm, {}, 1)));
  EXPECT_FALSE(check_reports(base, base, {}).regression);
  struct Change {
    const char* field;
    std::function<void(Json&)> apply;
  } changes[] = {
      {"lens", [](Json& r) { r["settings"]["lens"] = "raw"; }},
      {"divergence", [](Json& r) { r["settings"]["divergence"] = "dola"; }},
      {"prompt_ids", [](Json& r) { r["input"]["prompt_ids"][1] = 99; }},
      {"image_sha256", [](Json& r) { r["input"]["image_sha256"] = "cd"; }},
      {"model", [](Json& r) { r["model"]["num_layers"] = 40; }},
  };
  for (const Change& c : changes) {
    Json other = base;
    c.apply(other);
    try {
      check_reports(base, other, {});
      ADD_FAILURE() << c.field << " differs but was compared";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(c.field) + " "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::string("--allow-different ") + c.field), std::string::npos);
    }
    CheckOptions allow;
    allow.allow_different = {c.field};
    EXPECT_NO_THROW(check_reports(base, other, allow)) << c.field;
  }
  // The weights may differ: that is what a model change does.
  Json tuned = base;
  tuned["provenance"]["weights_header_sha256"] = "ff";
  EXPECT_NO_THROW(check_reports(base, tuned, {}));
  CheckOptions unknown;
  unknown.allow_different = {"colour"};
  EXPECT_THROW(check_reports(base, base, unknown), UsageError);
}

TEST(Check, ComparesOnlyConfidentBoundaries) {
  const Json base = with_stages(plain(build_report(synthetic_run(5, LensMode::norm, {}, 2))), 18, 0.95, 28, 0.9);
  auto outcome = [&](const Json& candidate) { return check_reports(base, candidate, {}); };
  // Moved by 3 with both sides confident: a regression that says by how much.
  CheckOutcome moved = outcome(with_stages(base, 21, 0.9, 28, 0.9));
  ASSERT_TRUE(moved.regression);
  ASSERT_EQ(moved.findings.size(), 1u);
  EXPECT_EQ(moved.findings[0].what, "critical_layer");
  EXPECT_EQ(moved.findings[0].detail, "moved from 18 to 21 (by 3 > tolerance 1)");
  EXPECT_FALSE(outcome(with_stages(base, 19, 0.9, 28, 0.9)).regression);  // within tolerance
  // One side below --min-confidence (0.7): not compared, but said.
  CheckOutcome unsure = outcome(with_stages(base, 21, 0.6, 28, 0.9));
  EXPECT_FALSE(unsure.regression);
  EXPECT_NE(unsure.notes[0].find("not compared"), std::string::npos) << unsure.notes[0];
  CheckOptions strict;
  strict.min_confidence = 0.5;
  EXPECT_TRUE(check_reports(base, with_stages(base, 21, 0.6, 28, 0.9), strict).regression);
  // Determined <-> undetermined / absent is a change.
  CheckOutcome lost = outcome(with_stages(base, 18, 0.95, nullptr, 0.2));
  ASSERT_TRUE(lost.regression);
  EXPECT_EQ(lost.findings[0].what, "mutation_layer");
  EXPECT_NE(lost.findings[0].detail.find("candidate absent (confidence 0.20)"), std::string::npos)
      << lost.findings[0].detail;
  EXPECT_TRUE(check_reports(with_stages(base, nullptr, 0.1, nullptr, 0), base, {}).regression);
  // ... unless the determined side is itself unsure; both missing is no change.
  const Json none = with_stages(base, nullptr, 0.1, nullptr, 0);
  EXPECT_FALSE(check_reports(none, with_stages(base, 18, 0.55, nullptr, 0), {}).regression);
  EXPECT_FALSE(check_reports(none, none, {}).regression);
}

TEST(Check, VersionOneBoundariesCountAsConfident) {
  const Json v1 = read_report(std::string(LVLM_TEST_DATA) + "/reports/demo-report.json");
  Json moved = v1;
  moved["stages"]["critical_layer"] = v1["stages"]["critical_layer"].get<int>() + 2;
  EXPECT_TRUE(check_reports(v1, moved, {}).regression);
  EXPECT_FALSE(check_reports(v1, v1, {}).regression);
}

}  // namespace
}  // namespace lvlm
