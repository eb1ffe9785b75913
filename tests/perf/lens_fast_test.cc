// The batched lens (src/lens/lens.cc) against a plain per-layer loop over the definitions in
// float64, on the tiny fixture's LM head: distributions, divergences, ranks and top-k; exact zeros
// for equal layers; the layer-L logits it hands to greedy decoding; prompt positions in chunks.
#include <ATen/ATen.h>

#include <cmath>
#include <numeric>

#include "lens/cpu_softmax.h"
#include "lvlm_probe/image.h"
#include "models/cpu_matmul.h"
#include "lvlm_probe/lens.h"
#include "lvlm_probe/models.h"
#include "lvlm_probe/probe.h"
#include "test_util.h"

namespace lvlm {
namespace {

struct Row {
  std::vector<double> p, logp;
};

Row softmax_row(const at::Tensor& logits) {  // one row of float32 logits, in float64
  at::Tensor x = logits.to(at::kDouble).contiguous();
  const double* v = x.data_ptr<double>();
  const int64_t n = x.numel();
  const double mx = *std::max_element(v, v + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(v[i] - mx);
  Row r;
  for (int64_t i = 0; i < n; ++i) {
    r.logp.push_back(v[i] - mx - std::log(sum));
    r.p.push_back(std::exp(r.logp.back()));
  }
  return r;
}

double js_loop(const Row& a, const Row& b) {
  double s = 0;
  for (size_t i = 0; i < a.p.size(); ++i) {
    const double m = 0.5 * (a.p[i] + b.p[i]);
    if (a.p[i] > 0) s += 0.5 * a.p[i] * std::log(a.p[i] / m);
    if (b.p[i] > 0) s += 0.5 * b.p[i] * std::log(b.p[i] / m);
  }
  return s;
}

class LensFast : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = load_model(test::tiny_model(), {}).release(); }
  static void TearDownTestSuite() { delete model_; }
  // What the lens unembeds for `mode`: layer L normed alone, as greedy decoding does.
  static at::Tensor logits_of(const at::Tensor& stack, LensMode mode) {
    const int64_t last = stack.size(0) - 1;
    at::Tensor in = stack;
    if (mode != LensMode::raw) {
      at::Tensor below = stack.narrow(0, 0, last);
      in = at::cat({mode == LensMode::norm ? model_->final_norm(below) : below, model_->final_norm(stack.narrow(0, last, 1))});
    }
    return model_->unembed(in).to(at::kFloat);
  }
  static VisionLanguageModel* model_;
};
VisionLanguageModel* LensFast::model_ = nullptr;

// Both the fused CPU loops (src/lens/cpu_softmax.cc) and the ATen ops other devices run.
TEST_F(LensFast, EveryStatisticEqualsAPlainLoop) {
  at::manual_seed(4);
  EXPECT_EQ(fused_softmax_available(), skinny_kernel_available()) << "libmvec missing from the build?";
  for (LensMode mode : {LensMode::norm, LensMode::raw, LensMode::hf})
    for (double scale : {0.3, 3.0, 300.0}) {  // flat, peaked, and underflowing (p = 0 exactly) distributions
      at::Tensor stack = at::randn({5, 64}) * scale;
      for (bool fused : {true, false}) {
      SCOPED_TRACE(std::string(fused ? "fused " : "aten ") + lens_mode_name(mode) + " scale " + std::to_string(scale));
      LensOptions o;
      o.mode = mode;
      o.fused_cpu = fused;
      const int token = 17;
      TokenTrace t = lens_statistics(*model_, stack, token, o);
      at::Tensor logits = logits_of(stack, mode);
      std::vector<Row> rows;
      for (int64_t l = 0; l < 5; ++l) rows.push_back(softmax_row(logits[l]));
      for (size_t l = 0; l < 5; ++l) {
        double entropy = 0;
        for (size_t i = 0; i < rows[l].p.size(); ++i) entropy -= rows[l].p[i] * rows[l].logp[i];
        EXPECT_NEAR(t.entropy[l], entropy, 1e-12) << "layer " << l;
        EXPECT_NEAR(t.p_token[l], rows[l].p[token], 1e-14) << "layer " << l;
        EXPECT_NEAR(t.d_final[l], js_loop(rows[l], rows[4]), 1e-12) << "layer " << l;
        if (l > 0) EXPECT_NEAR(t.d_prev[l], js_loop(rows[l - 1], rows[l]), 1e-12) << "layer " << l;
        EXPECT_GE(t.d_final[l], 0.0);
        EXPECT_LE(t.d_final[l], std::log(2.0) + 1e-12);
        int64_t rank = 1;
        for (double q : rows[l].p) rank += q > rows[l].p[token];
        if (scale < 100) EXPECT_EQ(t.rank[l], rank) << "layer " << l;  // ties in p once it underflows
        // top-k: the k largest logits, largest first (random logits: no ties)
        std::vector<int64_t> order(rows[l].p.size());
        std::iota(order.begin(), order.end(), 0);
        const at::Tensor row = logits[static_cast<int64_t>(l)].contiguous();
        const float* x = row.data_ptr<float>();
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return x[a] > x[b]; });
        ASSERT_EQ(t.topk_ids[l].size(), static_cast<size_t>(o.top_k));
        for (size_t j = 0; j < t.topk_ids[l].size(); ++j) {
          EXPECT_EQ(t.topk_ids[l][j], order[j]) << "layer " << l << " top " << j;
          EXPECT_NEAR(t.topk_probs[l][j], rows[l].p[static_cast<size_t>(order[j])], 1e-15);
        }
      }
      EXPECT_TRUE(std::isnan(t.d_prev[0]));
      EXPECT_EQ(t.d_final[4], 0.0);
      }
    }
}

TEST_F(LensFast, EqualLayersHaveExactlyZeroDivergence) {
  at::Tensor stack = at::randn({5, 64});
  stack[3].copy_(stack[2]);
  for (Divergence d : {Divergence::jsd, Divergence::dola})
    for (bool fused : {true, false}) {
      SCOPED_TRACE(fused ? "fused" : "aten");
      LensOptions o;
      o.divergence = d;
      o.fused_cpu = fused;
      TokenTrace t = lens_statistics(*model_, stack, 3, o);
      EXPECT_EQ(t.d_prev[3], 0.0);
      EXPECT_GT(t.d_prev[2], 0.0);
      EXPECT_EQ(t.d_final[4], 0.0);
    }
}

// By hand: ties rank by "how many are strictly above", and the top k keep vocabulary order.
TEST(LensCpuLoops, RankAndTopKWithTies) {
  const float x[] = {1, 3, 3, 2, 3, 0, /* row 2 */ 5, -1, 5, 5, 7, 5};
  const int64_t tok[] = {3, 3};  // ids within their row
  int64_t rank[2], top[8];
  rank_and_top_k(x, 2, 6, tok, 4, rank, top);
  EXPECT_EQ(rank[0], 4);  // 3, 3, 3 above 2
  EXPECT_EQ(rank[1], 2);  // only 7 above 5
  EXPECT_EQ(std::vector<int64_t>(top, top + 4), (std::vector<int64_t>{1, 2, 4, 3}));
  EXPECT_EQ(std::vector<int64_t>(top + 4, top + 8), (std::vector<int64_t>{4, 0, 2, 3}));
  rank_and_top_k(x, 1, 6, tok, 6, rank, top);  // k = vocabulary: a full sort
  EXPECT_EQ(std::vector<int64_t>(top, top + 6), (std::vector<int64_t>{1, 2, 4, 3, 0, 5}));
  EXPECT_THROW(rank_and_top_k(x, 1, 6, tok, 7, rank, top), std::invalid_argument);
  const int64_t outside[] = {6};
  EXPECT_THROW(rank_and_top_k(x, 1, 6, outside, 1, rank, top), std::invalid_argument);
}

at::Tensor fixture_pixels() {
  PreprocessResult p = preprocess_clip(decode_image(test::tiny_model() + "/test.png"),
                                       load_preprocessor_config(test::tiny_model() + "/preprocessor_config.json"));
  return at::from_blob(p.pixels.data(), {1, 3, p.height, p.width}, at::kFloat).clone();
}

// Greedy decoding takes the lens' layer-L logits instead of running the LM head again: the tokens
// must be those of plain generation, in every lens mode (raw shares nothing).
TEST_F(LensFast, SharedOutputLogitsGiveThePlainTokens) {
  GenerateOptions plain;
  plain.max_new_tokens = 12;
  plain.stop_at_eos = false;
  const std::vector<int> ids = {1, 11, 45, 510, 13, 87};
  GenerateResult want = generate_greedy(*model_, ids, fixture_pixels(), plain);
  for (LensMode mode : {LensMode::norm, LensMode::raw, LensMode::hf}) {
    LensOptions o;
    o.mode = mode;
    LogitLens lens(*model_, o);
    GenerateOptions gen = plain;
    gen.observer = &lens;
    EXPECT_EQ(generate_greedy(*model_, ids, fixture_pixels(), gen).token_ids, want.token_ids) << lens_mode_name(mode);
    EXPECT_EQ(lens.output_logits().defined(), mode != LensMode::raw && model_->unembed_rows_independent(5));
  }
}

TEST_F(LensFast, PromptPositionsInChunksMatchTheTokenAtTheLastPosition) {
  const std::vector<int> ids = {1, 11, 45, 510, 13, 87};
  for (int64_t chunk : {int64_t(1) << 22, int64_t(5 * 512 * 3)}) {  // one chunk; chunks of 3 positions
    LensOptions o;
    o.prompt_positions = true;
    o.chunk_elements = chunk;
    LogitLens lens(*model_, o);
    GenerateOptions gen;
    gen.max_new_tokens = 3;
    gen.observer = &lens;
    GenerateResult out = generate_greedy(*model_, ids, fixture_pixels(), gen);
    ASSERT_EQ(out.prompt_length, 21);
    std::vector<int> next(21, -1);
    next[0] = 11, next[1] = 45, next[18] = 13, next[19] = 87, next[20] = out.token_ids[0];
    std::vector<TokenTrace> prompt = lens.prompt_statistics(next);
    ASSERT_EQ(prompt.size(), 21u);
    const TokenTrace& last = prompt.back();
    const TokenTrace& step0 = lens.traces().front();
    EXPECT_EQ(last.position, 20);
    EXPECT_EQ(last.step, -1);
    for (size_t l = 0; l < 5; ++l) {
      EXPECT_NEAR(last.p_token[l], step0.p_token[l], 1e-6);
      EXPECT_NEAR(last.d_final[l], step0.d_final[l], 1e-6);
      EXPECT_NEAR(last.h_norm[l], step0.h_norm[l], 1e-9 * step0.h_norm[l]);
    }
    EXPECT_TRUE(std::isnan(prompt[5].p_token[2]));  // an image position predicts an image feature
    EXPECT_FALSE(std::isnan(prompt[19].p_token[2]));
    EXPECT_TRUE(lens.prompt_statistics(next).empty());  // the residual streams are freed
  }
}

TEST(ProbePositions, AllPositionsAreReported) {
  SessionOptions s;
  s.model_dir = test::tiny_model();
  ProbeSession session(s);
  ProbeRequest r;
  r.image = test::tiny_model() + "/test.png";
  r.input_ids = {1, 11, 45, 510, 13, 87};
  r.max_new_tokens = 2;
  r.prompt_positions = true;
  ProbeResult result = session.run(r);
  ASSERT_EQ(result.prompt_positions.size(), 21u);
  EXPECT_EQ(result.prompt_positions[1].token_id, 45);
  EXPECT_EQ(result.prompt_positions[2].token_id, -1);   // next is the first image feature
  EXPECT_EQ(result.prompt_positions[18].token_id, 13);  // the last image feature predicts "\n"
  EXPECT_EQ(result.prompt_positions[20].token_id, result.token_ids[0]);
}

}  // namespace
}  // namespace lvlm
