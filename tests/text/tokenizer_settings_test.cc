// Reading tokenizer_config.json, special_tokens_map.json and added_tokens.json with transformers'
// precedence (src/text/tokenizer_settings.cc), and the messages for malformed files.
#include "../../src/text/tokenizer_settings.h"

#include "text/text_test_util.h"

namespace lvlm::test {
namespace {

using text::read_tokenizer_settings;

TEST(TokenizerSettings, Fixture) {
  const auto s = read_tokenizer_settings(tiny_model());
  ASSERT_TRUE(s.bos && s.eos && s.unk && s.pad);
  EXPECT_EQ(s.bos->content, "<s>");
  EXPECT_EQ(s.eos->content, "</s>");
  EXPECT_EQ(s.unk->content, "<unk>");
  EXPECT_EQ(s.pad->content, "<pad>");
  ASSERT_EQ(s.additional_special.size(), 1u);
  EXPECT_EQ(s.additional_special[0].content, "<image>");
  EXPECT_TRUE(s.legacy);
  EXPECT_TRUE(s.add_bos_token);
  EXPECT_TRUE(s.add_prefix_space);
  EXPECT_FALSE(s.clean_up_tokenization_spaces);
  ASSERT_EQ(s.added.size(), 5u);
  std::vector<std::string> order;
  for (const auto& t : s.all_special()) order.push_back(t.content);
  EXPECT_EQ(order, (std::vector<std::string>{"<s>", "</s>", "<unk>", "<pad>", "<image>"}));
}

TEST(TokenizerSettings, NoFilesGiveLlamaDefaults) {
  TempDir dir;
  const auto s = read_tokenizer_settings(dir.path());
  EXPECT_EQ(s.bos->content, "<s>");
  EXPECT_FALSE(s.pad.has_value());
  EXPECT_TRUE(s.legacy);  // HF: legacy=None means the legacy behaviour
  EXPECT_TRUE(s.added.empty());
}

// With added_tokens_decoder in the config, the other two files are not read (as HF).
TEST(TokenizerSettings, AddedTokensDecoderWins) {
  TempDir dir;
  Json files = text_refs_variant("fixture")["files"];
  files["added_tokens.json"] = {{"<image>", 7}};
  files["special_tokens_map.json"]["bos_token"] = "<bos>";
  write_tokenizer_dir(dir, files);
  const auto s = read_tokenizer_settings(dir.path());
  EXPECT_EQ(s.bos->content, "<s>");
  for (const auto& t : s.added)
    if (t.content == "<image>") {
      EXPECT_EQ(t.id, 510);
    }
}

// Without it, the special tokens map overrides the config and added_tokens.json lists the tokens.
TEST(TokenizerSettings, LegacyLayout) {
  TempDir dir;
  Json files = text_refs_variant("no_tokenizer_config")["files"];
  files["tokenizer_config.json"] = {{"bos_token", "<x>"}, {"additional_special_tokens", {"<a>"}}};
  write_tokenizer_dir(dir, files);
  const auto s = read_tokenizer_settings(dir.path());
  EXPECT_EQ(s.bos->content, "<s>");  // special_tokens_map.json's object form
  ASSERT_EQ(s.additional_special.size(), 2u);  // the config's list, then the map's
  EXPECT_EQ(s.additional_special[0].content, "<a>");
  EXPECT_EQ(s.additional_special[1].content, "<image>");
  ASSERT_EQ(s.added.size(), 2u);
  for (const auto& t : s.added) EXPECT_TRUE(t.special) << t.content;  // both are special tokens
}

std::string settings_error(const Json& config) {
  TempDir dir;
  write_file_atomic(dir.file("tokenizer_config.json"), config.dump());
  try {
    read_tokenizer_settings(dir.path());
  } catch (const InputError& e) {
    std::string msg = e.what();
    const std::string prefix = dir.file("tokenizer_config.json");
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg;
    return msg.substr(prefix.size());
  }
  ADD_FAILURE() << "no InputError for " << config.dump();
  return "";
}

TEST(TokenizerSettings, MalformedConfigMessages) {
  EXPECT_EQ(settings_error(Json::array()), ": expected a JSON object");
  EXPECT_EQ(settings_error({{"legacy", "yes"}}), ": key 'legacy': expected a boolean, found a string");
  EXPECT_EQ(settings_error({{"bos_token", 1}}),
            ": key 'bos_token': expected a token (a string or an object with a string 'content')");
  EXPECT_EQ(settings_error({{"additional_special_tokens", "<image>"}}),
            ": key 'additional_special_tokens': expected an array of tokens, found string");
  EXPECT_EQ(settings_error({{"added_tokens_decoder", {{"abc", {{"content", "<x>"}}}}}}),
            ": key 'added_tokens_decoder': 'abc' is not a token id");
  EXPECT_EQ(settings_error({{"added_tokens_decoder", {{"-3", {{"content", "<x>"}}}}}}),
            ": key 'added_tokens_decoder': '-3' is not a token id");
  EXPECT_EQ(settings_error({{"added_tokens_decoder", {{"5", {{"content", 5}}}}}}),
            ": added_tokens_decoder.5: expected an object with a string 'content'");
  EXPECT_EQ(settings_error({{"added_tokens_decoder", {{"5", {{"content", "<x>"}, {"special", 1}}}}}}),
            ": added_tokens_decoder.5: key 'special': expected a boolean, found a number");
}

TEST(TokenizerSettings, MalformedAddedTokensFile) {
  TempDir dir;
  write_file_atomic(dir.file("added_tokens.json"), R"({"<image>": -5})");
  try {
    read_tokenizer_settings(dir.path());
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("added_tokens.json") + ": key '<image>': negative token id -5");
  }
}

}  // namespace
}  // namespace lvlm::test
