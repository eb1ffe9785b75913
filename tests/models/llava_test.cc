// The tiny fixture against transformers 4.40.2 (tests/data/tiny-llava/reference.json): vision
// tower, projector, every layer's residual stream at three positions, logits, greedy decoding
// with and without the KV cache, and blocks replaced by identity (gold_report.json skip_runs).
#include "lvlm_probe/image.h"
#include "model_test_util.h"
#include "models/clip_vision.h"
#include "models/llava/config.h"
#include "models/llava/names.h"

namespace lvlm {
namespace {

class TinyLlava : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ref_ = new Json(read_json_file(test::tiny_model() + "/reference.json"));
    model_ = load_model(test::tiny_model(), {}).release();
    PreprocessResult p = preprocess_clip(decode_image(test::tiny_model() + "/test.png"),
                                         load_preprocessor_config(test::tiny_model() + "/preprocessor_config.json"));
    pixels_ = new at::Tensor(at::from_blob(p.pixels.data(), {1, 3, p.height, p.width}, at::kFloat).clone());
  }
  static void TearDownTestSuite() {
    delete model_;
    delete ref_;
    delete pixels_;
  }
  static std::vector<int> prompt() { return (*ref_)["input"]["prompt_ids"].get<std::vector<int>>(); }

  static Json* ref_;
  static VisionLanguageModel* model_;
  static at::Tensor* pixels_;
};
Json* TinyLlava::ref_ = nullptr;
VisionLanguageModel* TinyLlava::model_ = nullptr;
at::Tensor* TinyLlava::pixels_ = nullptr;

TEST_F(TinyLlava, Info) {
  const ModelInfo& info = model_->info();
  EXPECT_EQ(info.family, "llava");
  EXPECT_EQ(info.num_layers, 4);
  EXPECT_EQ(info.hidden_size, 64);
  EXPECT_EQ(info.vocab_size, 512);
  EXPECT_EQ(info.num_image_features, 16);
  EXPECT_EQ(info.image_token_index, 510);
  EXPECT_EQ(info.weights_dtype, "F32");
  EXPECT_EQ(info.compute_dtype, "f32");
}

TEST_F(TinyLlava, VisionFeaturesAndProjector) {
  // The selected CLIP layer before projection, through the tower's own class.
  WeightStore store = WeightStore::open(test::tiny_model());
  WeightLoader w(store, at::kFloat, at::kCPU);
  LlavaConfig config = load_llava_config(test::tiny_model());
  ClipVisionTower tower(w, llava::weight_names_for(store).vision, config.vision, 1);
  at::Tensor hidden = tower.hidden_state(*pixels_, config.vision_hidden_state_index());
  const Json& sel = (*ref_)["vision"]["selected_features"];
  at::Tensor features = hidden.narrow(0, 1, 16);  // strategy "default" drops CLS
  test::expect_summary(features, sel, 1e-3, "selected features");
  EXPECT_NEAR(features.sum().item<double>(), sel["sum"].get<double>(), 1e-3 * sel["l2"].get<double>());
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(features[0][i].item<double>(), sel["row0_first"][i].get<double>(), 1e-4);
    EXPECT_NEAR(features[1][i].item<double>(), sel["row1_first"][i].get<double>(), 1e-4);
  }
  // hidden_states[0] (embeddings after pre_layrnorm): CLS row.
  at::Tensor h0 = tower.hidden_state(*pixels_, 0);
  const Json& h0_ref = (*ref_)["vision"]["hidden_states"][0];
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(h0[0][i].item<double>(), h0_ref["cls_first"][i].get<double>(), 1e-4);

  at::Tensor projected = model_->encode_image(*pixels_);
  ASSERT_EQ(projected.sizes(), (at::IntArrayRef{16, 64}));
  test::expect_summary(projected, (*ref_)["vision"]["projector_output"], 1e-3, "projector");
}

TEST_F(TinyLlava, EveryLayerAtThreePositions) {
  const Json& positions = (*ref_)["positions"];
  std::vector<std::string> names = {"text_before_image", "image_feature_5", "last"};
  std::vector<int64_t> at_positions;
  for (const auto& n : names) at_positions.push_back(positions[n]["position"].get<int64_t>());
  test::CaptureObserver capture(at_positions);
  GenerateOptions options;
  options.max_new_tokens = 1;
  options.observer = &capture;
  GenerateResult out = generate_greedy(*model_, prompt(), *pixels_, options);
  EXPECT_EQ(out.prompt_length, (*ref_)["input"]["expanded_length"].get<int64_t>());
  ASSERT_EQ(capture.layers.size(), 5u);
  for (size_t p = 0; p < names.size(); ++p) {
    const Json& pos = positions[names[p]];
    for (int l = 0; l <= 4; ++l)
      test::expect_summary(capture.layers[l][static_cast<int64_t>(p)], pos["residual"][l], 1e-3,
                           names[p] + " layer " + std::to_string(l));
    // Logits = LM head of the final-normed last layer; top-5 ids and probabilities.
    at::Tensor logits = model_->unembed(model_->final_norm(capture.layers[4][static_cast<int64_t>(p)]));
    test::expect_summary(logits, pos["final_logits"], 1e-4, names[p] + " logits");
    at::Tensor probs = at::softmax(logits.to(at::kDouble), -1);
    auto top = probs.topk(5);
    for (int k = 0; k < 5; ++k) {
      EXPECT_EQ(std::get<1>(top)[k].item<int64_t>(), pos["final_top5"]["ids"][k].get<int64_t>());
      EXPECT_NEAR(std::get<0>(top)[k].item<double>(), pos["final_top5"]["probs"][k].get<double>(), 1e-4);
    }
  }
}

TEST_F(TinyLlava, GreedyTokensWithAndWithoutCache) {
  const auto expected = (*ref_)["generation"]["new_token_ids"].get<std::vector<int>>();
  GenerateOptions options;
  options.max_new_tokens = 8;
  EXPECT_EQ(generate_greedy(*model_, prompt(), *pixels_, options).token_ids, expected);
  options.use_cache = false;
  EXPECT_EQ(generate_greedy(*model_, prompt(), *pixels_, options).token_ids,
            (*ref_)["generation"]["nocache_greedy_new_token_ids"].get<std::vector<int>>());
}

TEST_F(TinyLlava, SkippedBlocksAsIdentity) {
  Json gold = read_json_file(test::tiny_model() + "/gold_report.json");
  ASSERT_GE(gold["skip_runs"].size(), 2u);
  for (const auto& run : gold["skip_runs"]) {
    GenerateOptions options;
    options.max_new_tokens = 8;
    options.skip_layers = run["skip_layers"].get<std::vector<int>>();
    EXPECT_EQ(generate_greedy(*model_, prompt(), *pixels_, options).token_ids,
              run["new_token_ids"].get<std::vector<int>>())
        << run["skip_layers"].dump();
  }
}

TEST_F(TinyLlava, AlreadyExpandedImageTokens) {
  // Newer processors write one image token per feature; the result must be identical.
  std::vector<int> ids = prompt();
  const auto at = std::find(ids.begin(), ids.end(), 510);
  ids.insert(at, 15, 510);
  GenerateOptions options;
  options.max_new_tokens = 8;
  EXPECT_EQ(generate_greedy(*model_, ids, *pixels_, options).token_ids,
            (*ref_)["generation"]["new_token_ids"].get<std::vector<int>>());
}

TEST_F(TinyLlava, PromptErrors) {
  GenerateOptions options;
  std::vector<int> two = prompt();
  two.push_back(510);
  EXPECT_THROW(generate_greedy(*model_, two, *pixels_, options), UsageError);
  EXPECT_THROW(generate_greedy(*model_, prompt(), at::Tensor(), options), UsageError);
  EXPECT_THROW(generate_greedy(*model_, {1, 2, 600}, at::Tensor(), options), UsageError);
  options.skip_layers = {5};
  EXPECT_THROW(generate_greedy(*model_, prompt(), *pixels_, options), UsageError);
  options.skip_layers = {};
  options.max_new_tokens = 250;  // 25 prompt positions + 250 > 256 max_position_embeddings
  EXPECT_THROW(generate_greedy(*model_, prompt(), *pixels_, options), UsageError);
}

TEST(TapNames, LayerMappingRoundTrips) {
  EXPECT_EQ(resid_tap_name(0), "blocks.0.hook_resid_pre");
  EXPECT_EQ(resid_tap_name(1), "blocks.0.hook_resid_post");
  EXPECT_EQ(resid_tap_name(32), "blocks.31.hook_resid_post");
  for (int l = 0; l <= 80; ++l) EXPECT_EQ(layer_of_resid_tap(resid_tap_name(l)), l);
  EXPECT_EQ(layer_of_resid_tap("blocks.3.hook_attn_out"), -1);
  EXPECT_EQ(layer_of_resid_tap("blocks.x.hook_resid_post"), -1);
}

}  // namespace
}  // namespace lvlm
