// config.json parsing: transformers' defaults for omitted keys, and clear errors.
#include "lvlm_probe/family.h"
#include "models/llava/config.h"
#include "test_util.h"

namespace lvlm {
namespace {

std::string error_of(const std::string& json) {
  try {
    parse_llava_config(json, "m/config.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(LlavaConfig, FixtureValues) {
  LlavaConfig c = load_llava_config(test::tiny_model());
  EXPECT_EQ(c.architecture, "LlavaForConditionalGeneration");
  EXPECT_EQ(c.text.num_hidden_layers, 4);
  EXPECT_EQ(c.text.num_key_value_heads, 4);  // given
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e4);  // omitted: LlamaConfig's default
  EXPECT_TRUE(c.text.tie_word_embeddings);
  EXPECT_EQ(c.vision.hidden_act, "quick_gelu");  // omitted: CLIPVisionConfig's default
  EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.image_token_index, 510);
  EXPECT_EQ(c.num_image_features(), 16);
  EXPECT_EQ(c.vision_hidden_state_index(), 1);  // -2 of (embeddings + 2 layers)
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});  // generation_config.json
}

TEST(LlavaConfig, DefaultsForOmittedKeys) {
  // A config that gives only the vocabulary is LLaVA-1.5-7B's geometry in transformers 4.40
  // (whose defaults, vocabulary 32000 and image token 32000, do not fit together).
  LlavaConfig c = parse_llava_config(R"({"text_config": {"vocab_size": 32064}})", "x");
  EXPECT_THROW(parse_llava_config("{}", "x"), InputError);
  EXPECT_EQ(c.text.hidden_size, 4096);
  EXPECT_EQ(c.text.num_hidden_layers, 32);
  EXPECT_EQ(c.text.num_key_value_heads, 32);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e4);
  EXPECT_FALSE(c.text.tie_word_embeddings);
  EXPECT_EQ(c.text.max_position_embeddings, 2048);
  EXPECT_EQ(c.vision.image_size, 336);
  EXPECT_EQ(c.vision.patch_size, 14);
  EXPECT_EQ(c.vision.num_hidden_layers, 24);
  EXPECT_EQ(c.vision_feature_layer, -2);
  EXPECT_EQ(c.vision_feature_select_strategy, "default");
  EXPECT_EQ(c.num_image_features(), 576);
  EXPECT_EQ(c.image_token_index, 32000);
  // num_key_value_heads follows num_attention_heads; head_dim follows hidden / heads.
  LlavaConfig g = parse_llava_config(R"({"text_config": {"vocab_size": 32064, "hidden_size": 64, "num_attention_heads": 8}})", "x");
  EXPECT_EQ(g.text.num_key_value_heads, 8);
  EXPECT_EQ(g.text.head_dim, 8);
  // A vision_config dict gets CLIPVisionConfig's defaults, not LLaVA's substitute.
  LlavaConfig v = parse_llava_config(R"({"text_config": {"vocab_size": 32064}, "vision_config": {"hidden_size": 32, "num_attention_heads": 2}})", "x");
  EXPECT_EQ(v.vision.image_size, 224);
  EXPECT_EQ(v.vision.patch_size, 32);
  LlavaConfig full = parse_llava_config(R"({"text_config": {"vocab_size": 32064}, "vision_feature_select_strategy": "full", "vision_feature_layer": -1})", "x");
  EXPECT_EQ(full.num_image_features(), 577);
  EXPECT_EQ(full.vision_hidden_state_index(), 24);
  LlavaConfig scaled = parse_llava_config(R"({"text_config": {"vocab_size": 32064, "rope_scaling": {"type": "linear", "factor": 4}}})", "x");
  EXPECT_DOUBLE_EQ(scaled.text.rope_linear_factor, 4.0);
}

TEST(LlavaConfig, ErrorsNameFileAndKey) {
  EXPECT_EQ(error_of(R"({"text_config": {"num_hidden_layers": "four"}})"),
            "m/config.json: key 'num_hidden_layers': expected an integer, found a string");
  EXPECT_EQ(error_of(R"({"text_config": {"num_attention_heads": 6, "num_key_value_heads": 4, "hidden_size": 48}})"),
            "m/config.json: text_config.num_attention_heads 6 is not a multiple of num_key_value_heads 4");
  EXPECT_EQ(error_of(R"({"text_config": {"model_type": "mistral"}})"),
            "m/config.json: text_config.model_type 'mistral' is not supported (supported: llama)");
  EXPECT_EQ(error_of(R"({"vision_feature_layer": -30})"),
            "m/config.json: vision_feature_layer -30 does not select a layer of the 24-layer vision tower");
  EXPECT_EQ(error_of(R"({"vision_feature_select_strategy": "cls"})"),
            "m/config.json: vision_feature_select_strategy 'cls' is not supported (default, full)");
  EXPECT_EQ(error_of(R"({"text_config": {"rope_scaling": {"type": "dynamic", "factor": 2}}})"),
            "m/config.json: text_config.rope_scaling type 'dynamic' is not supported (supported: linear)");
  EXPECT_EQ(error_of(R"({"vision_config": {"image_size": 30, "patch_size": 14}})"),
            "m/config.json: vision_config.image_size 30 is not a multiple of patch_size 14");
  EXPECT_EQ(error_of(R"({"image_token_index": 40000})"),
            "m/config.json: image_token_index 40000 is outside the vocabulary of 32000");
  EXPECT_EQ(error_of(R"({"text_config": {"hidden_size": -1}})"), "m/config.json: key 'hidden_size' must be positive, found -1");
  EXPECT_EQ(error_of("[1, 2]"), "m/config.json: expected a JSON object");
  EXPECT_NE(error_of("{\"text_config\": ").find("m/config.json: invalid JSON"), std::string::npos);
}

TEST(LlavaConfig, MissingDirectoryAndFile) {
  try {
    load_llava_config("/nonexistent/model");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/model: model directory does not exist");
  }
  test::TempDir dir;
  try {
    load_llava_config(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), dir.path() + "/config.json: missing (not a Hugging Face model directory?)");
  }
}

TEST(Describe, FixtureGeometryAndParameters) {
  ModelDescription d = describe_model(test::tiny_model());
  EXPECT_EQ(d.json["text"]["layers"], 4);
  EXPECT_EQ(d.json["text"]["kv_heads"], 4);
  EXPECT_EQ(d.json["vision"]["image_features"], 16);
  EXPECT_EQ(d.json["dtypes_on_disk_bytes"]["F32"], 909568u);  // data section of model.safetensors
  EXPECT_EQ(d.json["parameters"], 909568u / 4);
  EXPECT_NE(d.text.find("4 layers, hidden 64"), std::string::npos) << d.text;
}

}  // namespace
}  // namespace lvlm
