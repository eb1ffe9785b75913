// The attention probe's arithmetic against plain loops (softmax(q·k / sqrt(d)) over keys 0..p with
// grouped key heads), and its key groups. The fixtures' comparison with transformers is in
// tests/probe/image_lens_test.cc.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "lvlm_probe/attention.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

// The oracle: one query row against keys 0..query, by hand.
std::vector<double> slow_row(const at::Tensor& q, int64_t first, const at::Tensor& k, int64_t query, int64_t head) {
  const int64_t group = q.size(0) / k.size(0), d = q.size(2), kv = head / group;
  std::vector<double> scores;
  double top = -1e300;
  for (int64_t key = 0; key <= query; ++key) {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += q[head][query - first][i].item<double>() * k[kv][key][i].item<double>();
    scores.push_back(s / std::sqrt(double(d)));
    top = std::max(top, scores.back());
  }
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - top));
  for (double& s : scores) s /= sum;
  return scores;
}

TEST(AttentionRow, GroupedHeadsMatchTheLoopAndMaskLaterKeys) {
  at::manual_seed(3);
  const at::Tensor q = at::randn({4, 3, 8});   // 4 query heads, positions 5..7
  const at::Tensor k = at::randn({2, 8, 8});   // 2 key heads (groups of 2), keys 0..7
  for (int64_t query : {5, 6, 7}) {
    const at::Tensor w = attention_row(q, 5, k, query);
    ASSERT_EQ(w.sizes(), (std::vector<int64_t>{4, query + 1}));
    for (int64_t h = 0; h < 4; ++h) {
      const std::vector<double> want = slow_row(q, 5, k, query, h);
      for (int64_t key = 0; key <= query; ++key) EXPECT_NEAR(w[h][key].item<double>(), want[key], 1e-6) << h << " " << key;
    }
  }
}

TEST(AttentionRow, TwoKeysByHand) {
  // One head, d = 4: q·k0 = 0, q·k1 = 2 -> scores 0 and 1 -> weights 1/(1+e) and e/(1+e).
  const at::Tensor q = at::tensor({1.0f, 1.0f, 0.0f, 0.0f}).view({1, 1, 4});
  const at::Tensor k = at::tensor({0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 1.0f, 5.0f, 5.0f}).view({1, 2, 4});
  const at::Tensor w = attention_row(q, 1, k, 1);
  EXPECT_NEAR(w[0][0].item<double>(), 1 / (1 + std::exp(1.0)), 1e-7);
  EXPECT_NEAR(w[0][1].item<double>(), std::exp(1.0) / (1 + std::exp(1.0)), 1e-7);
}

TEST(AttentionRow, RefusesAQueryOutsideItsRows) {
  const at::Tensor q = at::zeros({2, 1, 4}), k = at::zeros({1, 3, 4});
  EXPECT_THROW(attention_row(q, 2, k, 1), RuntimeFailure);
  EXPECT_THROW(attention_row(q, 3, k, 3), RuntimeFailure);  // no key 3
  EXPECT_THROW(attention_row(at::zeros({3, 1, 4}), 2, at::zeros({2, 3, 4}), 2), RuntimeFailure);  // 3 heads, 2 groups
}

TEST(KeyGroups, PartitionTheKeys) {
  // BOS, text, 3 image positions, text, then two generated positions.
  const at::Tensor g = key_groups(8, 6, {2, 3, 4});
  const std::vector<int> want = {0, 2, 1, 1, 1, 2, 3, 3};
  for (int64_t p = 0; p < 8; ++p) {
    EXPECT_EQ(g[p].sum().item<double>(), 1.0);
    EXPECT_EQ(g[p][want[p]].item<double>(), 1.0) << p;
  }
}

// Masses from a known row: the four groups of key_groups, summed per head.
TEST(AttentionProbe, FilesTheMassesOfThePredictingPositionUnderItsToken) {
  AttentionProbe probe(nullptr);
  probe.on_prompt(4, {1, 2});
  probe.positions_wanted(0, 4);
  // One head, keys equal: uniform weights 1/4 over BOS, two image positions and one text position.
  probe.on_attention(1, 0, at::zeros({1, 4, 2}), at::zeros({1, 4, 2}));
  probe.on_token(0, 7);
  probe.positions_wanted(4, 1);  // step 1: the query sees 5 keys, the last one generated
  probe.on_attention(1, 4, at::zeros({1, 1, 2}), at::zeros({1, 5, 2}));
  probe.on_token(1, 8);
  ASSERT_EQ(probe.shares().size(), 2u);
  const AttentionShares& s0 = probe.shares()[0].at(0);
  EXPECT_EQ(s0.layer, 1);
  EXPECT_DOUBLE_EQ(s0.bos[0], 0.25);
  EXPECT_DOUBLE_EQ(s0.image[0], 0.5);
  EXPECT_DOUBLE_EQ(s0.prompt[0], 0.25);
  EXPECT_DOUBLE_EQ(s0.generated[0], 0.0);
  const AttentionShares& s1 = probe.shares()[1].at(0);
  EXPECT_DOUBLE_EQ(s1.image[0], 0.4);
  EXPECT_DOUBLE_EQ(s1.generated[0], 0.2);
}

}  // namespace
}  // namespace lvlm
