// The per-image t-SNE: read from a --dump-features file, one point per token and layer, the
// paper's MaxAbsScaler (a column scaled by a power of two changes nothing) or unit rows (a row
// scaled changes nothing), tsne.py's layer groups, a bounded point count, and files that do not
// fit the report refused by name.
#include <gtest/gtest.h>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/render.h"
#include "lvlm_probe/report.h"
#include "synthetic.h"
#include "test_util.h"
#include "xml_check.h"

namespace lvlm {
namespace {

constexpr int kLayers = 8, kHidden = 16;

// Token t's hidden states [L+1, hidden]: a drift with the layer plus a per-token direction.
std::vector<float> hidden_of(int t) {
  std::vector<float> v;
  test::Lcg rng(100 + t);
  for (int l = 0; l <= kLayers; ++l)
    for (int i = 0; i < kHidden; ++i) v.push_back(static_cast<float>(0.3 * l * (i % 3) + (rng.uniform() - 0.5) + (i == t % kHidden) * l));
  return v;
}

Json small_report(int tokens) {
  Json report = test::synthetic_report(tokens, kLayers, 4, 6);
  report["model"]["hidden_size"] = kHidden;
  return report;
}

std::string write_features(const test::TempDir& dir, const std::vector<std::vector<float>>& tokens, const std::string& name,
                           std::vector<int64_t> shape = {kLayers + 1, kHidden},
                           std::map<std::string, std::string> metadata = {{"format", "lvlm-probe/features/1"}}) {
  std::vector<TensorToWrite> tensors;
  for (size_t t = 0; t < tokens.size(); ++t)
    tensors.push_back({"token." + std::to_string(t), DType::F32, shape,
                       std::string_view(reinterpret_cast<const char*>(tokens[t].data()), tokens[t].size() * sizeof(float))});
  write_safetensors(dir.file(name), tensors, metadata);
  return dir.file(name);
}

// The metadata --dump-features writes for the run of `report`: its image and its tokens.
std::map<std::string, std::string> run_metadata(const Json& report) {
  Json steps = Json::array();
  for (size_t i = 0; i < report["output"]["token_ids"].size(); ++i)
    steps.push_back({{"step", i}, {"token_id", report["output"]["token_ids"][i]}, {"position", 600 + i}});
  return {{"format", "lvlm-probe/features/1"}, {"tokens", steps.dump()},
          {"image_sha256", report["input"]["image_sha256"].get<std::string>()}};
}

std::string error_of(const std::string& features, const Json& report) {
  try {
    token_embedding(features, report, TokenEmbeddingStyle::stages, 2000);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(RenderTsne, OnePointPerTokenAndLayer) {
  test::TempDir dir;
  std::vector<std::vector<float>> tokens;
  for (int t = 0; t < 5; ++t) tokens.push_back(hidden_of(t));
  const std::string path = write_features(dir, tokens, "f.safetensors");
  const Json stages = token_embedding(path, small_report(5), TokenEmbeddingStyle::stages, 2000);
  EXPECT_EQ(stages["points"].size(), 5u * (kLayers + 1));  // layers 0..L
  EXPECT_EQ(stages["scaling"], "unit length");
  const Json paper = token_embedding(path, small_report(5), TokenEmbeddingStyle::paper, 2000);
  EXPECT_EQ(paper["points"].size(), 5u * kLayers);  // tsne.py drops layer 0
  EXPECT_EQ(paper["points"][0]["layer"], 1);
  EXPECT_EQ(paper["scaling"], "MaxAbsScaler");
  EXPECT_EQ(paper["iterations"], 2000);
  // L = 8: 18/32 of L is 4.5 -> 5 (tsne.py's 1-2, 3-18, 19-31, 32 for L = 32).
  EXPECT_EQ(paper["groups"], Json::parse(R"([{"name":"layers 1\u20132","first_layer":1,"last_layer":2},
      {"name":"layers 3\u20135","first_layer":3,"last_layer":5},{"name":"layers 6\u20137","first_layer":6,"last_layer":7},
      {"name":"layer 8","first_layer":8,"last_layer":8}])"));
}

TEST(RenderTsne, ScalingMatchesTheStyle) {
  test::TempDir dir;
  std::vector<std::vector<float>> tokens;
  for (int t = 0; t < 4; ++t) tokens.push_back(hidden_of(t));
  const Json report = small_report(4);
  const std::string plain = write_features(dir, tokens, "a.safetensors");
  auto scaled = tokens;
  for (auto& v : scaled)
    for (size_t i = 3; i < v.size(); i += kHidden) v[i] *= 8;  // one feature column x 8: MaxAbsScaler undoes it
  const std::string column = write_features(dir, scaled, "b.safetensors");
  EXPECT_EQ(token_embedding(plain, report, TokenEmbeddingStyle::paper, 2000)["points"],
            token_embedding(column, report, TokenEmbeddingStyle::paper, 2000)["points"]);
  // ... but not unit-length rows, which a row scale leaves alone instead.
  EXPECT_NE(token_embedding(plain, report, TokenEmbeddingStyle::stages, 2000)["points"],
            token_embedding(column, report, TokenEmbeddingStyle::stages, 2000)["points"]);
  auto rows = tokens;
  for (size_t i = 0; i < kHidden; ++i) rows[1][2 * kHidden + i] *= 4;  // token 1, layer 2, whole row x 4
  const std::string row = write_features(dir, rows, "c.safetensors");
  EXPECT_EQ(token_embedding(plain, report, TokenEmbeddingStyle::stages, 2000)["points"],
            token_embedding(row, report, TokenEmbeddingStyle::stages, 2000)["points"]);
}

TEST(RenderTsne, PointsAreBoundedAndTheNoteSaysSo) {
  test::TempDir dir;
  std::vector<std::vector<float>> tokens;
  for (int t = 0; t < 6; ++t) tokens.push_back(hidden_of(t));
  const std::string path = write_features(dir, tokens, "f.safetensors");
  const Json e = token_embedding(path, small_report(6), TokenEmbeddingStyle::stages, 20);  // 2 tokens of 9 points
  EXPECT_EQ(e["steps"], 6);
  EXPECT_EQ(e["steps_embedded"], 2);
  EXPECT_EQ(e["points"].size(), 18u);
  RenderOptions options;
  options.features = path;
  options.tsne_max_points = 20;
  const std::string html = render_report_html(small_report(6), options);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("The first 2 of 6 tokens are embedded"), std::string::npos);
  EXPECT_NE(html.find("<title>step 1 \xE2\x80\x9C image\xE2\x80\x9D \xC2\xB7 layer 8</title>"), std::string::npos);
  options.tsne = TokenEmbeddingStyle::paper;
  EXPECT_NE(render_report_html(small_report(6), options).find(">layers 3\xE2\x80\x93" "5</text>"), std::string::npos);
}

TEST(RenderTsne, FilesThatDoNotFitAreRefusedByName) {
  test::TempDir dir;
  const std::string wrong = write_features(dir, {std::vector<float>(5 * kHidden)}, "wrong.safetensors", {5, kHidden});
  std::string message;
  try {
    token_embedding(wrong, small_report(2), TokenEmbeddingStyle::stages, 2000);
  } catch (const InputError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("wrong.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("[9, 16]"), std::string::npos) << message;
  const std::string none = dir.file("none.safetensors");
  write_safetensors(none, {});
  EXPECT_THROW(token_embedding(none, small_report(2), TokenEmbeddingStyle::stages, 2000), InputError);
  EXPECT_THROW(parse_token_embedding_style("umap"), UsageError);
}

// A features file names its run's image and tokens: another run's file is refused by name.
TEST(RenderTsne, FeaturesOfAnotherRunAreRefused) {
  test::TempDir dir;
  const Json report = small_report(3);
  std::vector<std::vector<float>> tokens = {hidden_of(0), hidden_of(1), hidden_of(2)};
  const std::string same = write_features(dir, tokens, "same.safetensors", {kLayers + 1, kHidden}, run_metadata(report));
  EXPECT_EQ(error_of(same, report), "");

  auto other_image = run_metadata(report);
  other_image["image_sha256"] = std::string(64, 'b');
  const std::string image = write_features(dir, tokens, "image.safetensors", {kLayers + 1, kHidden}, other_image);
  std::string message = error_of(image, report);
  EXPECT_NE(message.find("image.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("another image"), std::string::npos) << message;

  Json other = report;
  other["output"]["token_ids"][1] = other["output"]["token_ids"][1].get<int>() + 1;
  const std::string steps = write_features(dir, tokens, "steps.safetensors", {kLayers + 1, kHidden}, run_metadata(other));
  message = error_of(steps, report);
  EXPECT_NE(message.find("steps.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("step 1 holds token"), std::string::npos) << message;

  Json longer = report;  // a fourth step the report never generated
  longer["output"]["token_ids"].push_back(7);
  tokens.push_back(hidden_of(3));
  const std::string more = write_features(dir, tokens, "more.safetensors", {kLayers + 1, kHidden}, run_metadata(longer));
  message = error_of(more, report);
  EXPECT_NE(message.find("not generated"), std::string::npos) << message;

  Json text_only = report;  // a report without an image compares the tokens only
  text_only["input"]["image_sha256"] = nullptr;
  EXPECT_EQ(error_of(same, text_only), "");
}

}  // namespace
}  // namespace lvlm
