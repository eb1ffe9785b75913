// The lens against transformers + the paper's pipeline (gold_report.json of tests/data/tiny-llava,
// all 8 generated tokens, and of the trained tests/data/nano-llava, up to its </s>; all three lens
// modes), and the divergences against hand-computed values and a plain loop.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>

#include "lens/divergence.h"
#include "lvlm_probe/image.h"
#include "lvlm_probe/lens.h"
#include "lvlm_probe/models.h"
#include "test_util.h"

namespace lvlm {
namespace {

using test::kProbTol;

// The image of a gold report (tiny fixture: test.png; nano-llava: its demo scene), preprocessed as
// the model's preprocessor_config.json says.
at::Tensor gold_pixels(const std::string& model_dir, const Json& gold) {
  PreprocessResult p = preprocess_clip(decode_image(model_dir + "/" + gold["image"].get<std::string>()),
                                       load_preprocessor_config(model_dir + "/preprocessor_config.json"));
  return at::from_blob(p.pixels.data(), {1, 3, p.height, p.width}, at::kFloat).clone();
}

std::vector<TokenTrace> probe(VisionLanguageModel& model, const std::string& model_dir, const Json& gold,
                              LensMode mode, Divergence d, std::vector<int> skip = {}) {
  LensOptions options;
  options.mode = mode;
  options.divergence = d;
  LogitLens lens(model, options);
  GenerateOptions gen;
  gen.max_new_tokens = gold["max_new_tokens"].get<int>();
  gen.observer = &lens;
  gen.skip_layers = std::move(skip);
  generate_greedy(model, gold["prompt_ids"].get<std::vector<int>>(), gold_pixels(model_dir, gold), gen);
  return lens.traces();
}

void expect_layers(const std::vector<double>& got, const Json& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t l = 0; l < got.size(); ++l) {
    if (want[l].is_null()) {
      EXPECT_TRUE(std::isnan(got[l])) << what << " layer " << l;
    } else {
      EXPECT_NEAR(got[l], want[l].get<double>(), tol) << what << " layer " << l;
    }
  }
}

// Competitors against the gold top-5 lists: the ids are the layers' top-1 ids in order of first
// appearance, and wherever gold lists a competitor (or it is the emitted token) the probability
// agrees; elsewhere it lies below that layer's fifth.
void expect_competitors(const TokenTrace& t, const Json& g, const std::string& at) {
  std::vector<int> want;
  for (const Json& ids : g["top5_ids"])
    if (std::find(want.begin(), want.end(), ids[0].get<int>()) == want.end()) want.push_back(ids[0].get<int>());
  ASSERT_EQ(t.competitor_ids, want) << at;
  ASSERT_EQ(t.competitor_probs.size(), want.size()) << at;
  for (size_t j = 0; j < want.size(); ++j) {
    ASSERT_EQ(t.competitor_probs[j].size(), g["top5_ids"].size()) << at;
    for (size_t l = 0; l < g["top5_ids"].size(); ++l) {
      const std::string where = at + " competitor " + std::to_string(want[j]) + " layer " + std::to_string(l);
      const double p = t.competitor_probs[j][l];
      const auto ids = g["top5_ids"][l].get<std::vector<int>>();
      const auto k = std::find(ids.begin(), ids.end(), want[j]) - ids.begin();
      if (k < static_cast<long>(ids.size())) EXPECT_NEAR(p, g["top5_probs"][l][k].get<double>(), kProbTol) << where;
      else EXPECT_LE(p, g["top5_probs"][l][4].get<double>() + kProbTol) << where;
      if (want[j] == t.token_id) EXPECT_NEAR(p, g["p_token"][l].get<double>(), kProbTol) << where;
    }
  }
}

// One gold report per model: the tiny random fixture (8 tokens, no EOS stop) and nano-llava, the
// trained model (float16 on disk, computed in float32 here as in its reference), up to its </s>.
// Each model is loaded once for all tests.
struct GoldModel {
  Json gold;
  std::unique_ptr<VisionLanguageModel> model;
};

GoldModel& gold_model(const std::string& dir) {
  static std::map<std::string, GoldModel> cache;
  auto it = cache.find(dir);
  if (it == cache.end())
    it = cache.emplace(dir, GoldModel{read_json_file(dir + "/gold_report.json"), load_model(dir, {})}).first;
  return it->second;
}

struct GoldCase {
  std::string model_dir;
  LensMode mode;
};

class Gold : public ::testing::TestWithParam<GoldCase> {};

TEST_P(Gold, EveryTokenEveryLayer) {
  const LensMode mode = GetParam().mode;
  const std::string& dir = GetParam().model_dir;
  const std::string name = lens_mode_name(mode);
  GoldModel& m = gold_model(dir);
  std::vector<TokenTrace> jsd = probe(*m.model, dir, m.gold, mode, Divergence::jsd);
  std::vector<TokenTrace> dola = probe(*m.model, dir, m.gold, mode, Divergence::dola);
  const Json& steps = m.gold["steps"];
  ASSERT_EQ(jsd.size(), steps.size());
  for (size_t s = 0; s < steps.size(); ++s) {
    const Json& g = steps[s]["lens"][name];
    const TokenTrace& t = jsd[s];
    const std::string at = name + " step " + std::to_string(s);
    EXPECT_EQ(t.step, static_cast<int>(s));
    EXPECT_EQ(t.token_id, steps[s]["token_id"].get<int>()) << at;
    expect_layers(t.p_token, g["p_token"], kProbTol, at + " p_token");
    EXPECT_EQ(t.rank, g["rank"].get<std::vector<int64_t>>()) << at;
    expect_layers(t.entropy, g["entropy"], kProbTol, at + " entropy");
    expect_layers(t.d_prev, g["jsd_prev"], kProbTol, at + " jsd_prev");
    expect_layers(t.d_final, g["jsd_final"], kProbTol, at + " jsd_final");
    expect_layers(dola[s].d_prev, g["dola_prev"], kProbTol, at + " dola_prev");
    for (size_t l = 0; l < t.topk_ids.size(); ++l) {
      EXPECT_EQ(t.topk_ids[l], g["top5_ids"][l].get<std::vector<int>>()) << at << " layer " << l;
      expect_layers(t.topk_probs[l], g["top5_probs"][l], kProbTol, at + " top5 layer " + std::to_string(l));
    }
    expect_competitors(t, g, at);
    // Features do not depend on the lens mode. h_norm within 1e-3 relative (hidden states).
    for (size_t l = 0; l < t.h_norm.size(); ++l)
      EXPECT_NEAR(t.h_norm[l], steps[s]["h_norm"][l].get<double>(), 1e-3 * steps[s]["h_norm"][l].get<double>()) << at;
    expect_layers(t.cos_prev, steps[s]["cos_prev"], kProbTol, at + " cos_prev");
    expect_layers(t.cos_final, steps[s]["cos_final"], kProbTol, at + " cos_final");
  }
}

std::string gold_case_name(const ::testing::TestParamInfo<GoldCase>& info) {
  const std::string dir = info.param.model_dir;
  std::string model = dir.substr(dir.find_last_of('/') + 1);
  model.erase(std::remove(model.begin(), model.end(), '-'), model.end());
  return model + "_" + lens_mode_name(info.param.mode);
}

INSTANTIATE_TEST_SUITE_P(LensModes, Gold,
                         ::testing::Values(GoldCase{test::tiny_model(), LensMode::norm},
                                           GoldCase{test::tiny_model(), LensMode::raw},
                                           GoldCase{test::tiny_model(), LensMode::hf},
                                           GoldCase{test::data_path("nano-llava"), LensMode::norm},
                                           GoldCase{test::data_path("nano-llava"), LensMode::raw},
                                           GoldCase{test::data_path("nano-llava"), LensMode::hf}),
                         gold_case_name);

TEST(GoldSkip, SkippedLayersPassTheResidualThrough) {
  // Layers 2 and 3 as identity: their residual equals layer 1's, so the divergence to the
  // previous layer is exactly 0 and the norms repeat.
  GoldModel& m = gold_model(test::tiny_model());
  std::vector<TokenTrace> t = probe(*m.model, test::tiny_model(), m.gold, LensMode::norm, Divergence::jsd, {2, 3});
  EXPECT_EQ(t[0].token_id, m.gold["skip_runs"][0]["new_token_ids"][0].get<int>());
  for (const auto& trace : t) {
    EXPECT_EQ(trace.d_prev[2], 0.0);
    EXPECT_EQ(trace.d_prev[3], 0.0);
    EXPECT_EQ(trace.h_norm[1], trace.h_norm[3]);
    EXPECT_GT(trace.d_prev[4], 0.0);
  }
}

// The competitors as a plain loop: per layer, softmax of the lens logits in float64 and its
// argmax; the oracle for both the fused CPU loops and the ATen path.
TEST(GoldCompetitors, MatchAPlainLoop) {
  const VisionLanguageModel& model = *gold_model(test::tiny_model()).model;
  const int64_t L = model.info().num_layers, hidden = model.info().hidden_size;
  at::manual_seed(5);
  at::Tensor stack = at::randn({L + 1, hidden});
  at::Tensor logits = model.unembed(model.final_norm(stack)).to(at::kDouble).contiguous();
  const int64_t V = logits.size(1);
  std::vector<int> ids;
  std::vector<std::vector<double>> probs(static_cast<size_t>(L + 1));
  for (int64_t l = 0; l <= L; ++l) {
    const double* x = logits.data_ptr<double>() + l * V;
    double top = x[0], sum = 0;
    int64_t arg = 0;
    for (int64_t v = 1; v < V; ++v)
      if (x[v] > top) top = x[v], arg = v;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(x[v] - top);
    for (int64_t v = 0; v < V; ++v) probs[static_cast<size_t>(l)].push_back(std::exp(x[v] - top) / sum);
    if (std::find(ids.begin(), ids.end(), arg) == ids.end()) ids.push_back(static_cast<int>(arg));
  }
  ASSERT_GT(ids.size(), 1u);  // random layers: more than one winner, else the test shows little
  for (bool fused : {true, false}) {
    LensOptions options;
    options.fused_cpu = fused;
    const TokenTrace t = lens_statistics(model, stack, 7, options);
    ASSERT_EQ(t.competitor_ids, ids) << "fused " << fused;
    for (size_t j = 0; j < ids.size(); ++j)
      for (int64_t l = 0; l <= L; ++l)
        EXPECT_NEAR(t.competitor_probs[j][static_cast<size_t>(l)], probs[static_cast<size_t>(l)][static_cast<size_t>(ids[j])],
                    1e-7) << "fused " << fused << " competitor " << j << " layer " << l;
  }
}

// A plain loop over the definition, as the oracle for the batched tensors.
double js_oracle(const std::vector<double>& p, const std::vector<double>& q) {
  double kl_p = 0, kl_q = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    if (p[i] > 0) kl_p += p[i] * std::log(p[i] / m);
    if (q[i] > 0) kl_q += q[i] * std::log(q[i] / m);
  }
  return 0.5 * kl_p + 0.5 * kl_q;
}

double js_of(const std::vector<double>& p, const std::vector<double>& q) {
  at::Tensor tp = at::tensor(p, at::kDouble), tq = at::tensor(q, at::kDouble);
  return js_divergence(tp, tq).item<double>();
}

TEST(Divergence, HandComputedCases) {
  EXPECT_DOUBLE_EQ(js_of({0.2, 0.3, 0.5}, {0.2, 0.3, 0.5}), 0.0);
  EXPECT_NEAR(js_of({1, 0, 0}, {0, 0.5, 0.5}), std::log(2.0), 1e-15);  // disjoint supports
  // P = (1, 0), Q = (1/2, 1/2): M = (3/4, 1/4); KL(P||M) = ln(4/3), KL(Q||M) = 1/2 ln(2/3) + 1/2 ln 2.
  const double expected = 0.5 * std::log(4.0 / 3.0) + 0.5 * (0.5 * std::log(2.0 / 3.0) + 0.5 * std::log(2.0));
  EXPECT_NEAR(js_of({1, 0}, {0.5, 0.5}), expected, 1e-15);
  EXPECT_NEAR(expected, 0.2157615543388357, 1e-15);
}

TEST(Divergence, DolaFormula) {
  // 1/2 * (1/V) * [KL(M||P) + KL(M||Q)] for P = (0.9, 0.1), Q = (0.5, 0.5).
  at::Tensor p = at::tensor(std::vector<double>{0.9, 0.1}), q = at::tensor(std::vector<double>{0.5, 0.5});
  const double m0 = 0.7, m1 = 0.3;
  const double kl_mp = m0 * std::log(m0 / 0.9) + m1 * std::log(m1 / 0.1);
  const double kl_mq = m0 * std::log(m0 / 0.5) + m1 * std::log(m1 / 0.5);
  EXPECT_NEAR(dola_divergence(p, q).item<double>(), 0.5 * 0.5 * (kl_mp + kl_mq), 1e-15);
}

TEST(Divergence, BatchedEqualsLoopOnRandomDistributions) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 50; ++trial) {
    const size_t v = 1 + rng() % 300;
    std::vector<double> p(v), q(v);
    double sp = 0, sq = 0;
    for (size_t i = 0; i < v; ++i) {
      p[i] = u(rng) < 0.2 ? 0.0 : std::pow(u(rng), 4);  // some exact zeros
      q[i] = std::pow(u(rng), 4);
      sp += p[i], sq += q[i];
    }
    if (sp == 0) p[0] = sp = 1;
    for (size_t i = 0; i < v; ++i) p[i] /= sp, q[i] /= sq;
    const double js = js_of(p, q);
    EXPECT_NEAR(js, js_oracle(p, q), 1e-12);
    EXPECT_GE(js, 0.0);
    EXPECT_LE(js, std::log(2.0) + 1e-12);
  }
}

}  // namespace
}  // namespace lvlm
