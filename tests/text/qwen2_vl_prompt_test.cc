// Qwen2-VL prompts (src/text/qwen2_vl_prompt.cc) against transformers 4.57.6 on the two Qwen
// fixtures: the chat template's text and ids with the image pad expanded, and get_rope_index's
// 3 x S positions and delta; plus hand-computed positions and the refusals.
#include <gtest/gtest.h>

#include "../../src/text/qwen2_vl_prompt.h"
#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm::test {
namespace {

class QwenPrompt : public ::testing::TestWithParam<const char*> {
 protected:
  std::string dir() const { return data_path(GetParam()); }
};

TEST_P(QwenPrompt, TextIdsAndPositionsEqualTransformers) {
  const BpeTokenizer tok = BpeTokenizer::load(dir());
  const auto chat_template = load_chat_template(dir());
  ASSERT_TRUE(chat_template);
  const auto system = default_system_prompt(*chat_template);
  EXPECT_EQ(system, "You are a helpful assistant.");
  const Json ref = read_json_file(dir() + "/reference.json");
  const Json config = read_json_file(dir() + "/config.json");
  for (const Json& c : ref["cases"]) {
    const std::string question = c["question"];
    EXPECT_EQ(qwen2_vl_prompt_text(question, true, system), c["prompt"].get<std::string>());
    const auto ids = qwen2_vl_prompt_ids(tok, question, c["num_image_tokens"].get<int64_t>(), system);
    EXPECT_EQ(ids, c["input_ids"].get<std::vector<int>>()) << question;
    const auto grid = c["image_grid_thw"].get<std::vector<int64_t>>();
    const MropePositions p = qwen2_vl_rope_index(ids, config["image_token_id"], config["vision_start_token_id"],
                                                 {grid[0], grid[1], grid[2]}, 2);
    for (int axis = 0; axis < 3; ++axis)
      EXPECT_EQ(p.axes[axis], c["position_ids"][axis].get<std::vector<int64_t>>()) << question << " axis " << axis;
    EXPECT_EQ(p.delta, c["rope_delta"].get<int64_t>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QwenPrompt, ::testing::Values("tiny-qwen2-vl", "tiny-qwen2.5-vl"));

TEST(QwenPrompt, TextAfterTheImageResumesAtItsLargestPositionPlusOne) {
  // ids: 2 text, vision start, 6 image tokens (grid 1 x 4 x 6 patches -> 2 x 3 merged), 2 text.
  const std::vector<int> ids = {5, 6, 9, 7, 7, 7, 7, 7, 7, 8, 5};
  const MropePositions p = qwen2_vl_rope_index(ids, 7, 9, {1, 4, 6}, 2);
  EXPECT_EQ(p.axes[0], (std::vector<int64_t>{0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7}));
  EXPECT_EQ(p.axes[1], (std::vector<int64_t>{0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7}));
  EXPECT_EQ(p.axes[2], (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7}));
  EXPECT_EQ(p.delta, 8 - 11);
  const MropePositions text_only = qwen2_vl_rope_index({5, 6, 8}, 7, 9, {1, 4, 6}, 2);
  EXPECT_EQ(text_only.axes[1], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(text_only.delta, 0);
}

TEST(QwenPrompt, ImageTokensThatDoNotFitTheGridAreRefused) {
  EXPECT_THROW(qwen2_vl_rope_index({9, 7, 7, 7}, 7, 9, {1, 4, 6}, 2), UsageError);     // 3 of 6
  EXPECT_THROW(qwen2_vl_rope_index({5, 7, 7, 7, 7, 7, 7}, 7, 9, {1, 4, 6}, 2), UsageError);  // no vision start
  EXPECT_THROW(qwen2_vl_rope_index({9, 7, 7, 7, 5, 7, 7, 7}, 7, 9, {1, 4, 6}, 2), UsageError);  // split run
  const BpeTokenizer tok = BpeTokenizer::load(data_path("tiny-qwen2-vl"));
  EXPECT_THROW(qwen2_vl_prompt_ids(tok, "two <|image_pad|>?", 4, std::nullopt), UsageError);
}

TEST(QwenPrompt, NoSystemTurnWhenTheTemplateWritesNone) {
  EXPECT_EQ(default_system_prompt("{% for m in messages %}<|im_start|>{{ m['role'] }}{% endfor %}"), std::nullopt);
  EXPECT_EQ(default_system_prompt("<|im_start|>system\n{{ system }}<|im_end|>"), std::nullopt);
  EXPECT_EQ(qwen2_vl_prompt_text("Hi", false, std::nullopt), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace lvlm::test
