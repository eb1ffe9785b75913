// Greedy decoding feeds rotary positions as the prompt embedding says: the prompt's own
// [P, S] positions, then answer token i at next_position + i on every axis, which differ from the
// cache slots when the prompt's positions do (Qwen2-VL's text after an image). A model that
// records what it is given stands in for a family.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lvlm_probe/models.h"

namespace lvlm {
namespace {

class PositionRecorder final : public VisionLanguageModel {
 public:
  explicit PositionRecorder(bool multi_axis) : multi_axis_(multi_axis) {
    info_.num_layers = 1, info_.hidden_size = 2, info_.vocab_size = 4, info_.max_positions = 64;
  }
  const ModelInfo& info() const override { return info_; }
  at::Tensor encode_image(const ImageInput& image) override { return at::zeros({image.num_tokens, 2}); }
  // Three axes whose last prompt position is 9, so decoding continues at 10 while slots are 4, 5, ...
  PromptEmbedding embed_prompt(const std::vector<int>& ids, const ImageInput&, const at::Tensor&) override {
    PromptEmbedding p;
    const int64_t s = static_cast<int64_t>(ids.size());
    p.embeddings = at::zeros({s, 2});
    p.next_position = s;
    if (multi_axis_) {
      p.position_ids = at::arange(s, at::kLong).unsqueeze(0).repeat({3, 1});
      p.position_ids[0][s - 1] = 9;
      p.next_position = 10;
    }
    return p;
  }
  at::Tensor embed_tokens(const std::vector<int>& ids) override { return at::zeros({int64_t(ids.size()), 2}); }
  at::Tensor forward(const at::Tensor& embeddings, const at::Tensor& position_ids, KVCache* cache,
                     const ForwardOptions&) override {
    seen.push_back(position_ids.defined() ? position_ids.clone() : at::Tensor());
    slots.push_back(cache ? cache->length : 0);
    if (cache) cache->length += embeddings.size(0);
    return embeddings;
  }
  KVCache new_cache(int64_t capacity) const override {
    KVCache c;
    c.capacity = capacity;
    return c;
  }
  at::Tensor final_norm(const at::Tensor& hidden) const override { return hidden; }
  at::Tensor unembed(const at::Tensor& normed) const override { return at::zeros({normed.size(0), 4}); }

  std::vector<at::Tensor> seen;
  std::vector<int64_t> slots;

 private:
  bool multi_axis_;
  ModelInfo info_;
};

std::vector<int64_t> values(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

TEST(GeneratePositions, AnswerContinuesFromNextPositionOnEveryAxis) {
  PositionRecorder model(/*multi_axis=*/true);
  GenerateOptions options;
  options.max_new_tokens = 3;
  generate_greedy(model, {1, 2, 3, 0}, ImageInput(), options);
  ASSERT_EQ(model.seen.size(), 3u);
  EXPECT_EQ(values(model.seen[0]), (std::vector<int64_t>{0, 1, 2, 9, 0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(values(model.seen[1]), (std::vector<int64_t>{10, 10, 10}));
  EXPECT_EQ(values(model.seen[2]), (std::vector<int64_t>{11, 11, 11}));
  EXPECT_EQ(model.slots, (std::vector<int64_t>{0, 4, 5}));  // cache slots run on regardless
}

TEST(GeneratePositions, WithoutCacheTheWholeSequenceKeepsItsPositions) {
  PositionRecorder model(/*multi_axis=*/true);
  GenerateOptions options;
  options.max_new_tokens = 3;
  options.use_cache = false;
  generate_greedy(model, {1, 2, 3, 0}, ImageInput(), options);
  ASSERT_EQ(model.seen.size(), 3u);
  EXPECT_EQ(model.seen[2].sizes(), (at::IntArrayRef{3, 6}));
  EXPECT_EQ(values(model.seen[2][0]), (std::vector<int64_t>{0, 1, 2, 9, 10, 11}));
  EXPECT_EQ(values(model.seen[2][1]), (std::vector<int64_t>{0, 1, 2, 3, 10, 11}));
}

TEST(GeneratePositions, SlotsWhenThePromptHasNoPositions) {
  PositionRecorder model(/*multi_axis=*/false);
  GenerateOptions options;
  options.max_new_tokens = 2;
  generate_greedy(model, {1, 2, 3}, ImageInput(), options);
  ASSERT_EQ(model.seen.size(), 2u);
  EXPECT_FALSE(model.seen[0].defined());
  EXPECT_FALSE(model.seen[1].defined());
}

}  // namespace
}  // namespace lvlm
