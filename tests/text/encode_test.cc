// Tokenizer::encode against transformers' slow LlamaTokenizer (src/text/encode.cc).
#include <algorithm>

#include "text/text_test_util.h"

namespace lvlm::test {
namespace {

// tokenization.json "strings": hf_legacy_true_ids (the fixture's config) and hf_legacy_false_ids.
TEST(TokenizerEncode, FixtureStringsLegacy) {
  const Tokenizer& tok = fixture_tokenizer();
  for (const Json& s : tokenization_refs()["strings"]) {
    const std::string text = s["text"];
    SCOPED_TRACE(text);
    const auto hf = ids_of(s["hf_legacy_true_ids"]);
    EXPECT_EQ(tok.encode(text, true), hf);
    EXPECT_EQ(tok.encode(text, false), std::vector<int>(hf.begin() + 1, hf.end()));
    // Where HF only adds BOS to SentencePiece's ids, so do we.
    auto sp_with_bos = ids_of(s["ids_with_bos"]);
    EXPECT_EQ(tok.encode(text, true) == sp_with_bos, s["hf_legacy_true_equals_sp_with_bos"].get<bool>());
  }
}

TEST(TokenizerEncode, FixtureStringsNonLegacy) {
  TempDir dir;
  const Tokenizer tok = Tokenizer::load(write_tokenizer_dir(dir, fixture_files_with({{"legacy", false}})));
  ASSERT_FALSE(tok.legacy());
  for (const Json& s : tokenization_refs()["strings"]) {
    SCOPED_TRACE(s["text"].get<std::string>());
    EXPECT_EQ(tok.encode(s["text"], true), ids_of(s["hf_legacy_false_ids"]));
  }
}

// The whole templated prompt through the tokenizer, as HF's LlavaProcessor feeds it
// (template.questions[].b_hf_slow_tokenizer): "<image>" is followed by "▁" only when legacy.
TEST(TokenizerEncode, TemplatePromptsAsHfProcessor) {
  TempDir dir;
  const Tokenizer non_legacy = Tokenizer::load(write_tokenizer_dir(dir, fixture_files_with({{"legacy", false}})));
  for (const Json& q : tokenization_refs()["template"]["questions"]) {
    SCOPED_TRACE(q["prompt"].get<std::string>());
    EXPECT_EQ(fixture_tokenizer().encode(q["prompt"], true), ids_of(q["b_hf_slow_tokenizer"]["legacy_true"]));
    EXPECT_EQ(non_legacy.encode(q["prompt"], true), ids_of(q["b_hf_slow_tokenizer"]["legacy_false"]));
    const auto& around = q["around_image"]["b_legacy_false"];
    const auto ids = non_legacy.encode(q["prompt"], true);
    const size_t at = std::find(ids.begin(), ids.end(), 510) - ids.begin();
    ASSERT_LT(at + 2, ids.size());
    for (size_t k = 0; k < around.size(); ++k) EXPECT_EQ(non_legacy.piece(ids[at - 2 + k]), around[k].get<std::string>());
    // pieces.b_legacy_false lists every piece of that encoding.
    const auto& pieces = q["pieces"]["b_legacy_false"];
    ASSERT_EQ(pieces.size(), ids.size());
    for (size_t k = 0; k < ids.size(); ++k) EXPECT_EQ(non_legacy.piece(ids[k]), pieces[k].get<std::string>());
  }
}

// hf_text_refs.json: every variant's strings, with and without BOS. Variants cover legacy=False,
// add_prefix_space=False, "<image>" with lstrip/rstrip, the legacy file layout without
// tokenizer_config.json, and tokenizer.model alone.
class TokenizerEncodeVariant : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerEncodeVariant, MatchesTransformers) {
  const Json& v = text_refs_variant(GetParam());
  TempDir dir;
  const Tokenizer tok = Tokenizer::load(write_tokenizer_dir(dir, v["files"]));
  EXPECT_EQ(tok.vocab_size(), v["vocab_size"].get<int>());
  EXPECT_EQ(tok.bos_id(), v["bos_id"].get<int>());
  EXPECT_EQ(tok.eos_id(), v["eos_id"].get<int>());
  for (const Json& e : v["encode"]) {
    SCOPED_TRACE(::testing::Message() << "text: " << e["text"].dump());
    EXPECT_EQ(tok.encode(e["text"], true), ids_of(e["ids_with_bos"]));
    EXPECT_EQ(tok.encode(e["text"], false), ids_of(e["ids"]));
  }
}

INSTANTIATE_TEST_SUITE_P(Refs, TokenizerEncodeVariant,
                         ::testing::Values("fixture", "legacy_false", "cleanup", "no_prefix_space", "image_strips",
                                           "no_tokenizer_config", "new_specials", "model_only"));

// Prompts come from the command line and data sets: bytes that are not UTF-8, NULs and long text
// must encode without harm (SentencePiece maps bad bytes to U+FFFD).
TEST(TokenizerEncode, ArbitraryBytes) {
  const Tokenizer& tok = fixture_tokenizer();
  const std::string junk("\xff\xfe<ima\x00ge>\xc3", 11);
  const auto ids = tok.encode(junk, true);
  EXPECT_GT(ids.size(), 1u);
  for (int id : ids) EXPECT_TRUE(id >= 0 && id < tok.vocab_size()) << id;
  EXPECT_NO_THROW(tok.decode(ids));
  std::string long_text;
  for (int i = 0; i < 2000; ++i) long_text += "word <image> ";
  const auto long_ids = tok.encode(long_text, false);
  EXPECT_EQ(std::count(long_ids.begin(), long_ids.end(), 510), 2000);
}

TEST(TokenizerEncode, EveryReferenceVariantIsTested) {
  EXPECT_EQ(text_refs()["variants"].size(), 8u);
}

}  // namespace
}  // namespace lvlm::test
