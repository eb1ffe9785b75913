// Qwen2-VL / Qwen2.5-VL config.json parsing: both config forms and rope_scaling spellings
// (tests/data/tiny-qwen2-vl, tiny-qwen2.5-vl), transformers' defaults, clear errors.
#include <gtest/gtest.h>

#include "lvlm_probe/json.h"
#include "models/qwen2_vl/config.h"
#include "test_util.h"

namespace lvlm::qwen2_vl {
namespace {

TEST(QwenConfig, OldFlatFormWithMropeType) {
  const Config c = load_config(test::data_path("tiny-qwen2-vl"));
  EXPECT_EQ(c.version, Version::qwen2_vl);
  EXPECT_EQ(c.text.hidden_size, 64);
  EXPECT_EQ(c.text.num_hidden_layers, 4);
  EXPECT_EQ(c.text.num_key_value_heads, 2);
  EXPECT_EQ(c.text.head_dim, 16);
  EXPECT_TRUE(c.text.qkv_bias);
  EXPECT_FALSE(c.text.attention_bias);
  EXPECT_FALSE(c.text.tie_word_embeddings);
  EXPECT_EQ(c.mrope_section, (std::vector<int>{2, 3, 3}));
  EXPECT_EQ(c.vision.width, 32);                // embed_dim
  EXPECT_EQ(c.vision.intermediate_size, 128);   // embed_dim * mlp_ratio
  EXPECT_EQ(c.vision.out_size, 64);             // vision_config.hidden_size
  EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
  EXPECT_EQ(c.vision.patch_columns(), 1176);
  EXPECT_EQ(c.image_token_id, 372);
  EXPECT_EQ(c.vision_start_token_id, 369);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{362}));
}

TEST(QwenConfig, NestedTextConfigAndRewrittenRopeScaling) {
  const Config c = load_config(test::data_path("tiny-qwen2.5-vl"));
  EXPECT_EQ(c.version, Version::qwen2_5_vl);
  EXPECT_TRUE(c.windowed());
  EXPECT_EQ(c.text.vocab_size, 448);
  EXPECT_TRUE(c.text.tie_word_embeddings);  // text_config's, as transformers reads it
  EXPECT_EQ(c.mrope_section, (std::vector<int>{2, 3, 3}));
  EXPECT_EQ(c.vision.width, 32);  // Qwen2.5's vision hidden_size
  EXPECT_EQ(c.vision.intermediate_size, 80);
  EXPECT_EQ(c.vision.out_size, 64);
  EXPECT_EQ(c.vision.window_size, 56);
  EXPECT_EQ(c.vision.merger_window(), 2);
  EXPECT_EQ(c.vision.fullatt_block_indexes, (std::vector<int>{1, 3}));
  EXPECT_EQ(c.image_token_id, 432);
}

// Omitted keys take transformers' defaults (Qwen2.5-VL-7B's vision, the 72B text geometry).
TEST(QwenConfig, Defaults) {
  const Config c = parse_config(R"({"architectures": ["Qwen2_5_VLForConditionalGeneration"], "hidden_size": 4096,
      "num_attention_heads": 32, "vision_config": {"out_hidden_size": 4096}, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}})", "config.json");
  EXPECT_EQ(c.text.intermediate_size, 29568);
  EXPECT_EQ(c.text.num_hidden_layers, 80);
  EXPECT_EQ(c.text.num_key_value_heads, 8);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.vision.width, 3584);
  EXPECT_EQ(c.vision.intermediate_size, 3420);
  EXPECT_EQ(c.vision.fullatt_block_indexes, (std::vector<int>{7, 15, 23, 31}));
  EXPECT_EQ(c.image_token_id, 151655);
  EXPECT_EQ(c.vision_start_token_id, 151652);
  EXPECT_TRUE(c.eos_token_ids.empty());
}

TEST(QwenConfig, ErrorsNameTheKey) {
  auto error = [](const std::string& json) {
    try {
      parse_config(json, "dir/config.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string head = R"({"architectures": ["Qwen2VLForConditionalGeneration"], "hidden_size": 64,
      "num_attention_heads": 4, "num_key_value_heads": 2, "vision_config": {"hidden_size": 64},)";
  EXPECT_NE(error(head + R"("vocab_size": 100})").find("rope_scaling with mrope_section is missing"), std::string::npos);
  EXPECT_NE(error(head + R"("rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 4]}})").find("sums to 9, expected head_dim / 2 = 8"),
            std::string::npos);
  EXPECT_NE(error(head + R"("rope_scaling": {"type": "yarn", "mrope_section": [2, 3, 3]}})").find("'yarn' is not supported"),
            std::string::npos);
  EXPECT_NE(error(R"({"architectures": ["Qwen2VLForConditionalGeneration"], "hidden_size": 64, "num_attention_heads": 4,
      "num_key_value_heads": 2, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}})").find("merger's output size 3584 differs from the decoder's hidden_size 64"),
            std::string::npos);
  EXPECT_NE(error(R"({"architectures": ["Qwen3VLForConditionalGeneration"]})").find("is not Qwen2-VL or Qwen2.5-VL"),
            std::string::npos);
  EXPECT_EQ(error(head + R"("vocab_size": 100})").rfind("dir/config.json: ", 0), 0u);  // the file first
}

}  // namespace
}  // namespace lvlm::qwen2_vl
