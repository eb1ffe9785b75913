// The numbers behind `aggregate`: quartiles as numpy computes them, pairwise cosine against brute
// force, PCA on data with known axes, t-SNE deterministic and separating two clusters.
#include <cmath>
#include <random>

#include "lvlm_probe/analysis.h"
#include "test_util.h"

namespace lvlm {
namespace {

TEST(SummarizeValues, QuartilesLikeNumpyLinear) {
  // numpy.percentile([4, 1, 3, 2], [25, 50, 75]) == [1.75, 2.5, 3.25]
  ValueSummary s = summarize_values({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.q1, 1.75);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.q3, 3.25);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_EQ(s.count, 4u);
  // numpy.percentile(range(1, 11), [25, 50, 75]) == [3.25, 5.5, 7.75]; NaN and inf are left out
  std::vector<double> v = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1, NAN, INFINITY};
  s = summarize_values(v);
  EXPECT_EQ(s.count, 10u);
  EXPECT_DOUBLE_EQ(s.q1, 3.25);
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_DOUBLE_EQ(s.q3, 7.75);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  // numpy.percentile([0, 1, 5], 25) == 0.5, 75 -> 3.0
  s = summarize_values({5, 0, 1});
  EXPECT_DOUBLE_EQ(s.q1, 0.5);
  EXPECT_DOUBLE_EQ(s.median, 1);
  EXPECT_DOUBLE_EQ(s.q3, 3);
  s = summarize_values({7});
  EXPECT_DOUBLE_EQ(s.q1, 7);
  EXPECT_DOUBLE_EQ(s.q3, 7);
  EXPECT_EQ(summarize_values({NAN}).count, 0u);
}

TEST(PairwiseCosine, EqualsBruteForce) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.3f, 1.0f);
  const size_t n = 9, dim = 17;
  std::vector<std::vector<float>> v(n, std::vector<float>(dim));
  for (auto& row : v)
    for (auto& x : row) x = normal(rng);
  PairwiseCosine pc(dim);
  EXPECT_TRUE(std::isnan(pc.mean()));
  for (const auto& row : v) pc.add(row.data());
  std::vector<float> zero(dim, 0.0f);
  pc.add(zero.data());  // no direction: left out
  EXPECT_EQ(pc.count(), n);
  double sum = 0;
  int pairs = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      double dot = 0, a = 0, b = 0;
      for (size_t k = 0; k < dim; ++k) {
        const double x = v[i][k], y = v[j][k];
        dot += x * y, a += x * x, b += y * y;
      }
      sum += dot / std::sqrt(a * b);
      ++pairs;
    }
  EXPECT_NEAR(pc.mean(), sum / pairs, 1e-10);
  PairwiseCosine same(3);
  const float u[3] = {1, 2, 3}, w[3] = {2, 4, 6};
  same.add(u);
  same.add(w);
  EXPECT_NEAR(same.mean(), 1.0, 1e-12);
}

// Rows 3a e1 + b e2 + 5 (a, b orthogonal +-1 patterns): axes e1 and e2, variances in ratio 9:1.
std::vector<float> known_axes_data(size_t dim) {
  const int a[8] = {1, -1, 1, -1, 1, -1, 1, -1}, b[8] = {1, 1, -1, -1, 1, 1, -1, -1};
  std::vector<float> data;
  for (int i = 0; i < 8; ++i)
    for (size_t k = 0; k < dim; ++k) data.push_back(5.0f + (k == 0 ? 3.0f * a[i] : 0.0f) + (k == 1 ? 1.0f * b[i] : 0.0f));
  return data;
}

TEST(Embedding, PcaFindsKnownAxes) {
  const size_t dim = 6;
  const PrincipalAxes p = principal_axes(known_axes_data(dim), dim, 2, 1);
  ASSERT_EQ(p.axes.size(), 2u);
  EXPECT_NEAR(p.axes[0][0], 1.0, 1e-6);  // largest component positive
  EXPECT_NEAR(p.axes[1][1], 1.0, 1e-6);
  for (size_t k = 2; k < dim; ++k) EXPECT_NEAR(p.axes[0][k], 0.0, 1e-6);
  EXPECT_NEAR(p.variances[0] / p.variances[1], 9.0, 1e-6);
  EmbeddingOptions o;
  o.method = EmbeddingMethod::pca;
  const Embedding e = embed_2d(known_axes_data(dim), dim, o);
  ASSERT_EQ(e.points.size(), 8u);
  EXPECT_NEAR(std::fabs(e.points[0][0]), 3.0, 1e-5);  // coordinates along the axes, centred
  EXPECT_NEAR(std::fabs(e.points[0][1]), 1.0, 1e-5);
  EXPECT_NEAR(e.points[0][0], -e.points[1][0], 1e-5);
}

TEST(Embedding, TsneIsDeterministicAndSeparatesClusters) {
  std::mt19937 rng(11);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  const size_t per = 12, dim = 8;
  std::vector<float> data;
  for (int c = 0; c < 2; ++c)
    for (size_t i = 0; i < per; ++i)
      for (size_t k = 0; k < dim; ++k) data.push_back((c == 0 ? 0.0f : 10.0f) + noise(rng));
  EmbeddingOptions o;
  o.perplexity = 5;
  o.seed = 3;
  o.iterations = 500;
  const Embedding a = embed_2d(data, dim, o), b = embed_2d(data, dim, o);
  ASSERT_EQ(a.points.size(), 2 * per);
  for (size_t i = 0; i < a.points.size(); ++i) {
    EXPECT_EQ(a.points[i][0], b.points[i][0]);
    EXPECT_EQ(a.points[i][1], b.points[i][1]);
  }
  auto dist = [&](size_t i, size_t j) { return std::hypot(a.points[i][0] - a.points[j][0], a.points[i][1] - a.points[j][1]); };
  double within = 0, between = 1e300;
  for (size_t i = 0; i < 2 * per; ++i)
    for (size_t j = i + 1; j < 2 * per; ++j) {
      if ((i < per) == (j < per)) within = std::max(within, dist(i, j));
      else between = std::min(between, dist(i, j));
    }
  EXPECT_LT(within, between);
  EXPECT_DOUBLE_EQ(a.perplexity, 5);
  EXPECT_TRUE(std::isfinite(a.kl_divergence));
}

}  // namespace
}  // namespace lvlm
