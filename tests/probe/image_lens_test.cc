// The lens on image positions and the attention shares against transformers on both fixtures
// (tests/data/*/image_lens_reference.json, made by scripts/reference/make_image_lens_refs.py:
// eager attention, output_attentions=True, float32), and the model's numbers with the attention
// tap on: unchanged.
#include <gtest/gtest.h>

#include "lvlm_probe/json.h"
#include "lvlm_probe/probe.h"
#include "lvlm_probe/report.h"
#include "test_util.h"

namespace lvlm {
namespace {

struct Case {
  const char* model;
};

class ImageLensFixture : public ::testing::TestWithParam<Case> {
 protected:
  std::string dir() const { return test::data_path(GetParam().model); }
  Json reference() const { return read_json_file(dir() + "/image_lens_reference.json"); }
  ProbeRequest request(const Json& ref) const {
    ProbeRequest r;
    r.image = dir() + "/" + ref["image"].get<std::string>();
    r.input_ids = ref["prompt_ids"].get<std::vector<int>>();
    r.max_new_tokens = ref["max_new_tokens"].get<int>();
    r.stop_at_eos = false;
    r.top_k = ref["top_k"].get<int>();
    r.image_positions = true;
    r.attention = true;
    return r;
  }
};

TEST_P(ImageLensFixture, LensAtImagePositionsMatchesTransformers) {
  const Json ref = reference();
  SessionOptions options;
  options.model_dir = dir();
  ProbeSession session(options);
  const ProbeResult r = session.run(request(ref));
  ASSERT_TRUE(r.image_lens.has_value());
  EXPECT_EQ(r.image_positions, ref["image_positions"].get<std::vector<int64_t>>());
  const auto& positions = r.image_lens->positions;
  ASSERT_EQ(positions.size(), ref["image_positions"].size());
  double largest = 0;
  for (const Json& layer : ref["image_lens"]) {
    const size_t l = layer["layer"].get<size_t>();
    for (size_t p = 0; p < positions.size(); ++p) {
      const TokenTrace& t = positions[p];
      EXPECT_EQ(t.position, r.image_positions[p]);
      EXPECT_NEAR(t.entropy[l], layer["entropy"][p].get<double>(), 1e-4) << "layer " << l << " position " << p;
      largest = std::max(largest, std::abs(t.entropy[l] - layer["entropy"][p].get<double>()));
      const auto want_probs = layer["top_probs"][p].get<std::vector<double>>();
      for (size_t k = 0; k < want_probs.size(); ++k) {
        EXPECT_NEAR(t.topk_probs[l][k], want_probs[k], 1e-4) << "layer " << l << " position " << p << " k " << k;
        largest = std::max(largest, std::abs(t.topk_probs[l][k] - want_probs[k]));
        // Ids may swap only between near-ties.
        if (t.topk_ids[l][k] != layer["top_ids"][p][k].get<int>())
          EXPECT_NEAR(want_probs[k], k + 1 < want_probs.size() ? want_probs[k + 1] : want_probs[k - 1], 1e-4)
              << "layer " << l << " position " << p << " k " << k;
      }
    }
  }
  std::printf("largest |top-k probability or entropy - transformers| = %.3g\n", largest);
}

TEST_P(ImageLensFixture, AttentionSharesMatchTransformersEagerAttention) {
  const Json ref = reference();
  SessionOptions options;
  options.model_dir = dir();
  ProbeSession session(options);
  const ProbeResult r = session.run(request(ref));
  EXPECT_EQ(r.token_ids, ref["new_token_ids"].get<std::vector<int>>());
  ASSERT_EQ(r.tokens.size(), ref["attention"].size());
  double largest = 0;
  for (const Json& step : ref["attention"]) {
    const TokenTrace& t = r.tokens.at(step["step"].get<size_t>());
    ASSERT_EQ(t.attention.size(), step["layers"].size());
    for (const Json& layer : step["layers"]) {
      const AttentionShares& got = t.attention.at(layer["layer"].get<size_t>() - 1);
      EXPECT_EQ(got.layer, layer["layer"].get<int>());
      for (const auto& [name, field] : {std::pair{"bos", &AttentionShares::bos}, std::pair{"image", &AttentionShares::image},
                                        std::pair{"prompt", &AttentionShares::prompt},
                                        std::pair{"generated", &AttentionShares::generated}}) {
        const auto want = layer[name].get<std::vector<double>>();
        ASSERT_EQ((got.*field).size(), want.size());
        for (size_t h = 0; h < want.size(); ++h) {
          EXPECT_NEAR((got.*field)[h], want[h], 1e-5) << name << " step " << t.step << " layer " << got.layer << " head " << h;
          largest = std::max(largest, std::abs((got.*field)[h] - want[h]));
        }
      }
    }
  }
  std::printf("largest |attention share - transformers| = %.3g\n", largest);
}

// The taps only read: tokens, lens numbers and hidden-state norms are bit for bit those of a run
// without them.
TEST_P(ImageLensFixture, TapsChangeNoNumberOfTheModel) {
  const Json ref = reference();
  SessionOptions options;
  options.model_dir = dir();
  ProbeSession session(options);
  ProbeRequest plain = request(ref);
  plain.attention = plain.image_positions = false;
  const ProbeResult a = session.run(plain), b = session.run(request(ref));
  EXPECT_EQ(a.token_ids, b.token_ids);
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i) {
    EXPECT_EQ(a.tokens[i].h_norm, b.tokens[i].h_norm) << "step " << i;
    EXPECT_EQ(a.tokens[i].p_token, b.tokens[i].p_token) << "step " << i;
    EXPECT_TRUE(a.tokens[i].attention.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ImageLensFixture, ::testing::Values(Case{"tiny-llava"}, Case{"nano-llava"}),
                         [](const auto& info) { return std::string(info.param.model[0] == 't' ? "Tiny" : "Nano"); });

// The report's sections: the grid, the boxes (the tiny image 64x40 is resized to 51x32 and cropped
// at x = 9, so patch (0, 0) covers x 9..17 of the resized image, 11.29..21.33 of the original), the
// original image for the page, the pieces of every id, and the attention summary.
TEST(ImageLensReport, SectionsOfTheTinyFixture) {
  const Json ref = read_json_file(test::tiny_model() + "/image_lens_reference.json");
  SessionOptions options;
  options.model_dir = test::tiny_model();
  ProbeSession session(options);
  ProbeRequest q;
  q.image = test::tiny_model() + "/test.png";
  q.input_ids = ref["prompt_ids"].get<std::vector<int>>();
  q.max_new_tokens = 3;
  q.image_positions = q.attention = true;
  const ProbeResult r = session.run(q);
  const Json report = Json::parse(dump_json(build_report(r)));
  validate_report(report, "built");
  const Json& s = report["image_positions"];
  EXPECT_EQ(s["start"], 3);
  EXPECT_EQ(s["count"], 16);
  EXPECT_EQ(s["grid"]["rows"], 4);
  EXPECT_EQ(s["grid"]["cols"], 4);
  EXPECT_EQ(s["grid"]["cls_first"], false);
  EXPECT_EQ(s["input_size"], Json::parse("[32, 32]"));
  EXPECT_EQ(s["original_size"], Json::parse("[64, 40]"));
  EXPECT_EQ(s["boxes"]["input"][5], Json::parse("[8, 8, 16, 16]"));
  const Json& box = s["boxes"]["original"][0];
  EXPECT_NEAR(box[0].get<double>(), 9 * 64.0 / 51, 1e-12);
  EXPECT_NEAR(box[2].get<double>(), 17 * 64.0 / 51, 1e-12);
  EXPECT_NEAR(box[3].get<double>(), 8 * 40.0 / 32, 1e-12);
  EXPECT_EQ(s["image"].get<std::string>().rfind("data:image/bmp;base64,Qk", 0), 0u);
  EXPECT_EQ(s["layers"].size(), 5u);
  for (const Json& layer : s["layers"])
    for (const Json& row : layer["top_ids"])
      for (const Json& id : row) EXPECT_TRUE(s["pieces"].contains(std::to_string(id.get<int>())));
  EXPECT_EQ(report["settings"]["positions"], "image");
  EXPECT_EQ(report["settings"]["attention"], true);
  EXPECT_EQ(report["tokens"][0]["attention"]["layers"].size(), 4u);
  const Json& summary = report["attention"]["layers"];
  ASSERT_EQ(summary.size(), 4u);
  // Median over the three tokens of head 0's image share at layer 2.
  std::vector<double> v;
  for (const auto& t : r.tokens) v.push_back(t.attention[1].image[0]);
  std::sort(v.begin(), v.end());
  EXPECT_DOUBLE_EQ(summary[1]["image"][0].get<double>(), v[1]);
  EXPECT_FALSE(report.contains("prompt_positions"));
}

}  // namespace
}  // namespace lvlm
