// ProbeSession end to end on the tiny fixture: the report's numbers come from the lens and the
// model (tested elsewhere against transformers); here the pipeline around them.
#include <torch/version.h>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/probe.h"
#include "lvlm_probe/report.h"
#include "test_util.h"

namespace lvlm {
namespace {

class Probe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SessionOptions options;
    options.model_dir = test::tiny_model();
    session_ = new ProbeSession(options);
    gold_ = new Json(read_json_file(test::tiny_model() + "/gold_report.json"));
  }
  static void TearDownTestSuite() {
    delete session_;
    delete gold_;
  }
  static ProbeRequest request() {
    ProbeRequest r;
    r.image = test::tiny_model() + "/test.png";
    r.input_ids = (*gold_)["prompt_ids"].get<std::vector<int>>();
    r.max_new_tokens = 8;
    return r;
  }
  static ProbeSession* session_;
  static Json* gold_;
};
ProbeSession* Probe::session_ = nullptr;
Json* Probe::gold_ = nullptr;

TEST_F(Probe, ReportHoldsTheRun) {
  ProbeResult r = session_->run(request());
  EXPECT_EQ(r.token_ids, (*gold_)["new_token_ids"].get<std::vector<int>>());
  EXPECT_EQ(r.stop_reason, "max_new_tokens");
  EXPECT_EQ(r.sequence_length, 25);
  EXPECT_EQ(r.image_positions.front(), 3);
  EXPECT_EQ(r.tokens.size(), 8u);
  EXPECT_FALSE(r.skip.has_value());
  Json report = Json::parse(dump_json(build_report(r)));
  validate_report(report, "built");
  EXPECT_EQ(report["schema"], kReportSchema);
  EXPECT_EQ(report["model"]["num_layers"], 4);
  EXPECT_EQ(report["input"]["image_sha256"], sha256_hex(read_file(request().image)));
  EXPECT_TRUE(report["tokens"][0]["d_prev"][0].is_null());
  EXPECT_EQ(report["tokens"][0]["topk"][4]["ids"][0], r.token_ids[0]);  // norm lens: layer L = output
  EXPECT_EQ(report["layers"].size(), 5u);
  EXPECT_EQ(report["layers"][0]["stage"], "embedding");
  // The per-layer view summarises the per-token arrays: recompute one median.
  std::vector<double> d3;
  for (const auto& t : r.tokens) d3.push_back(t.d_prev[3]);
  std::sort(d3.begin(), d3.end());
  EXPECT_DOUBLE_EQ(report["layers"][3]["d_prev"]["median"].get<double>(), 0.5 * (d3[3] + d3[4]));
  // Four layers are too few to judge a knee (docs/stages.md, "Tiny models"): undetermined, but the
  // fit's candidates are reported.
  EXPECT_TRUE(report["stages"]["critical_layer"].is_null());
  EXPECT_EQ(report["layers"][1]["stage"], "undetermined");
  const int c = report["stages"]["candidates"]["critical_layer"], m = report["stages"]["candidates"]["mutation_layer"];
  EXPECT_LT(c, m);
  EXPECT_EQ(report["settings"]["reduced_math"], "exact");
  const Json& p = report["provenance"];
  EXPECT_EQ(p["config_sha256"], sha256_hex(read_file(test::tiny_model() + "/config.json")));
  EXPECT_EQ(p["weights_header_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(p["libtorch"].get<std::string>().substr(0, 1), std::string(TORCH_VERSION).substr(0, 1));
  EXPECT_EQ(p["created"].get<std::string>().size(), 20u);  // 2026-12-06T15:30:12Z
  EXPECT_EQ(p["device"], "cpu");
}

TEST_F(Probe, SkippedRunsMatchTransformers) {
  for (const auto& run : (*gold_)["skip_runs"]) {
    ProbeRequest q = request();
    q.skip_layers = run["skip_layers"].get<std::vector<int>>();
    ProbeResult r = session_->run(q);
    ASSERT_TRUE(r.skip.has_value());
    EXPECT_EQ(r.skip->mode, "layers");
    EXPECT_EQ(r.skip->token_ids, run["new_token_ids"].get<std::vector<int>>());
    EXPECT_EQ(r.token_ids, (*gold_)["new_token_ids"].get<std::vector<int>>());  // the full run is unchanged
    EXPECT_FALSE(r.skip->identical);
  }
}

TEST_F(Probe, SkipStabilizationSkipsBetweenTheBoundaries) {
  ProbeRequest q = request();
  q.skip_stabilization = true;
  ProbeResult r = session_->run(q);
  ASSERT_TRUE(r.skip.has_value());
  EXPECT_EQ(r.skip->layers, stabilization_layers(r.stages));
  EXPECT_EQ(r.skip->mode, "stabilization");
  // The 4-layer model's c is undetermined: nothing is skipped, and the report says why.
  EXPECT_TRUE(r.skip->layers.empty());
  EXPECT_NE(r.skip->note.find("undetermined"), std::string::npos) << r.skip->note;
  EXPECT_TRUE(r.skip->identical);
  // Given a critical layer, stabilization is [c+1, m-1] (or [c+1, L] without a jump).
  q.stages = stage_options_from_flags("fixed", 1, "");
  const ProbeResult fixed = session_->run(q);
  EXPECT_EQ(fixed.skip->layers, stabilization_layers(fixed.stages));
  EXPECT_EQ(fixed.skip->note.empty(), !fixed.skip->layers.empty()) << fixed.skip->note;
  if (!fixed.skip->layers.empty()) EXPECT_EQ(fixed.skip->layers.front(), 2);
}

TEST_F(Probe, RefusesSkipRequestsBeforeProbing) {
  ProbeRequest both = request();
  both.skip_stabilization = true, both.skip_layers = {2};
  EXPECT_THROW(session_->run(both), UsageError);
  ProbeRequest outside = request();
  outside.skip_layers = {2, 5};
  try {
    session_->run(outside);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--skip-layers: layer 5 is outside 1-4 (the model has 4 decoder layers)");
  }
}

TEST_F(Probe, FixedStagesUseTheGivenCriticalLayer) {
  ProbeRequest q = request();
  q.stages = stage_options_from_flags("fixed", 2, "");
  ProbeResult r = session_->run(q);
  EXPECT_EQ(r.stages.method, "fixed");
  EXPECT_EQ(r.stages.critical_layer(), 2);
  EXPECT_GE(r.stages.overall.mutation_candidate, 3);
  // No --critical-layer and no configs/ file for a 4-layer model: a usage error that says so.
  ProbeRequest none = request();
  none.stages = stage_options_from_flags("fixed", 0, "");
  none.stage_configs_dir = std::string(LVLM_SOURCE_DIR) + "/configs";
  try {
    session_->run(none);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no file in"), std::string::npos) << e.what();
  }
}

TEST_F(Probe, DumpFeaturesWritesEveryTokensResidualStream) {
  test::TempDir dir;
  ProbeRequest q = request();
  q.dump_features = dir.file("features.safetensors");
  ProbeResult r = session_->run(q);
  auto file = SafetensorsFile::open(q.dump_features);
  ASSERT_EQ(file->tensors().size(), 8u);
  for (const auto& t : file->tensors()) {
    ASSERT_EQ(t.shape, (std::vector<int64_t>{5, 64}));
    const int step = std::stoi(t.name.substr(t.name.find('.') + 1));
    const auto* v = reinterpret_cast<const float*>(t.data);
    for (int l = 0; l < 5; ++l) {
      double norm = 0;
      for (int i = 0; i < 64; ++i) norm += double(v[l * 64 + i]) * v[l * 64 + i];
      EXPECT_NEAR(std::sqrt(norm), r.tokens[step].h_norm[l], 1e-4 * r.tokens[step].h_norm[l]);
    }
  }
}

TEST(CompareOutputs, AgreementFigures) {
  SkipComparison c = compare_outputs({5, 6, 7, 8}, {5, 6, 9});
  EXPECT_EQ(c.matching_prefix, 2);
  EXPECT_DOUBLE_EQ(c.position_agreement, 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(c.token_overlap, 2.0 * 2 / 7);
  EXPECT_FALSE(c.identical);
  SkipComparison same = compare_outputs({1, 2}, {1, 2});
  EXPECT_TRUE(same.identical);
  EXPECT_EQ(same.matching_prefix, 2);
  EXPECT_DOUBLE_EQ(same.token_overlap, 1.0);
  SkipComparison reordered = compare_outputs({1, 2, 2}, {2, 1, 2});
  EXPECT_EQ(reordered.matching_prefix, 0);
  EXPECT_DOUBLE_EQ(reordered.token_overlap, 1.0);
  EXPECT_DOUBLE_EQ(reordered.position_agreement, 1.0 / 3.0);
}

}  // namespace
}  // namespace lvlm
