// Limits of the torch-free readers (docs/hardening.md), checked directly (the CLI rows in
// hostile_test.cc check the same limits end to end): bounded file reads, config.json upper
// bounds, image file size.
#include <filesystem>
#include <fstream>

#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/model_config.h"
#include "models/llava/config.h"
#include "test_util.h"

namespace lvlm {
namespace {

TEST(Limits, ReadFileStopsAtTheLimit) {
  test::TempDir dir;
  const std::string f = dir.file("f.json");
  std::ofstream(f) << std::string(100, ' ');
  EXPECT_EQ(read_file(f, 100).size(), 100u);
  EXPECT_EQ(test::input_error_of([&] { read_file(f, 99); }), f + ": file of 100 bytes exceeds the limit of 99 bytes");
  // A device that never ends is not a regular file: refused before any read.
  EXPECT_EQ(test::input_error_of([&] { read_file("/dev/zero", 1 << 20); }), "/dev/zero: not a regular file (character device)");
  EXPECT_EQ(test::input_error_of([&] { read_file(dir.path(), 10); }), dir.path() + ": is a directory, expected a file");
  JsonLimits small;
  small.max_bytes = 50;
  EXPECT_EQ(test::input_error_of([&] { read_json_file(f, small); }), f + ": file of 100 bytes exceeds the limit of 50 bytes");
}

TEST(Limits, ImageFileSize) {
  DecodeLimits limits;
  limits.max_file_bytes = 100;
  const std::string png = test::tiny_model() + "/test.png";  // 269 bytes
  EXPECT_EQ(test::input_error_of([&] { decode_image(png, limits); }), png + ": file of 269 bytes exceeds the limit of 100 bytes");
  EXPECT_EQ(decode_image(png).width, 64);  // the default limit reads it
}

TEST(Limits, ConfigSizesHaveUpperBounds) {
  auto config_error = [](const std::string& text) {
    return test::input_error_of([&] { parse_llava_config(text, "c.json"); });
  };
  EXPECT_EQ(config_error(R"({"text_config": {"num_hidden_layers": 2000000000}})"),
            "c.json: text_config.num_hidden_layers = 2000000000 is above the limit of 1024");
  EXPECT_EQ(config_error(R"({"text_config": {"hidden_size": 2000000000, "num_attention_heads": 1, "num_key_value_heads": 1}})"),
            "c.json: text_config.hidden_size = 2000000000 is above the limit of 65536");
  EXPECT_EQ(config_error(R"({"text_config": {"vocab_size": 2000000000}})"),
            "c.json: text_config.vocab_size = 2000000000 is above the limit of 4194304");
  EXPECT_EQ(config_error(R"({"text_config": {"max_position_embeddings": 2000000000}})"),
            "c.json: text_config.max_position_embeddings = 2000000000 is above the limit of 16777216");
  EXPECT_EQ(config_error(R"({"text_config": {"head_dim": 1000000}})"),
            "c.json: text_config.head_dim = 1000000 is above the limit of 65536");
  EXPECT_EQ(config_error(R"({"vision_config": {"num_hidden_layers": 5000}})"),
            "c.json: vision_config.num_hidden_layers = 5000 is above the limit of 1024");
  EXPECT_EQ(config_error(R"({"vision_config": {"image_size": 1000000, "patch_size": 1}})"),
            "c.json: vision_config.image_size = 1000000 is above the limit of 16384");
  // The limits leave every real geometry alone: LLaMA-3 405B's text sizes parse.
  EXPECT_EQ(config_error(R"({"text_config": {"vocab_size": 128256, "hidden_size": 16384, "intermediate_size": 53248,
                         "num_hidden_layers": 126, "num_attention_heads": 128, "num_key_value_heads": 8,
                         "max_position_embeddings": 131072}})"),
            "(no error)");
}

}  // namespace
}  // namespace lvlm
