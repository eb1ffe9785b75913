// Tokenizer::decode against transformers' slow LlamaTokenizer.decode (src/text/decode.cc).
#include <algorithm>

#include "text/text_test_util.h"

namespace lvlm::test {
namespace {

// tokenization.json "strings": decode of hf_legacy_true_ids, special tokens skipped and kept.
TEST(TokenizerDecode, FixtureStrings) {
  const Tokenizer& tok = fixture_tokenizer();
  for (const Json& s : tokenization_refs()["strings"]) {
    SCOPED_TRACE(s["text"].get<std::string>());
    const auto ids = ids_of(s["hf_legacy_true_ids"]);
    EXPECT_EQ(tok.decode(ids, true), s["hf_decode_skip_special"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, false), s["hf_decode_keep_special"].get<std::string>());
  }
}

// tokenization.json "end_to_end": the generated tokens of the fixture's probe prompt, alone and
// after the prompt.
TEST(TokenizerDecode, EndToEndGeneration) {
  const Tokenizer& tok = fixture_tokenizer();
  const Json& e = tokenization_refs()["end_to_end"];
  const auto prompt = ids_of(e["input_ids"]), generated = ids_of(e["new_token_ids"]);
  EXPECT_EQ(tok.decode(generated), e["hf_decode_new_skip_special"].get<std::string>());
  EXPECT_EQ(tok.decode(generated), e["sp_decode_new"].get<std::string>());
  auto full = prompt;
  full.insert(full.end(), generated.begin(), generated.end());
  EXPECT_EQ(tok.decode(full, true), e["hf_decode_full_skip_special"].get<std::string>());
  EXPECT_EQ(tok.decode(full, false), e["hf_decode_full_keep_special"].get<std::string>());
  const bool eos_hit = std::find(generated.begin(), generated.end(), tok.eos_id()) != generated.end();
  EXPECT_EQ(eos_hit, e["eos_hit"].get<bool>());
}

// hf_text_refs.json: hand-picked and random id lists (specials, byte pieces, partial UTF-8, "▁"
// runs) in every tokenizer variant, which changes the legacy spacing, the clean-up and the set of
// special tokens.
class TokenizerDecodeVariant : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerDecodeVariant, MatchesTransformers) {
  const Json& v = text_refs_variant(GetParam());
  TempDir dir;
  const Tokenizer tok = Tokenizer::load(write_tokenizer_dir(dir, v["files"]));
  std::vector<int> special;
  for (int id = 0; id < tok.vocab_size(); ++id)
    if (tok.is_special(id)) special.push_back(id);
  EXPECT_EQ(special, ids_of(v["special_ids"]));
  for (const Json& d : v["decode"]) {
    SCOPED_TRACE(::testing::Message() << "ids: " << d["ids"].dump());
    EXPECT_EQ(tok.decode(ids_of(d["ids"]), true), d["skip_special"].get<std::string>());
    EXPECT_EQ(tok.decode(ids_of(d["ids"]), false), d["keep_special"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Refs, TokenizerDecodeVariant,
                         ::testing::Values("fixture", "legacy_false", "cleanup", "no_prefix_space", "image_strips",
                                           "no_tokenizer_config", "new_specials", "model_only"));

// Padded embedding rows (LLaVA-1.5-7b-hf: 32064 rows, 32002 tokens) can be predicted; they have no
// text. transformers raises on them; a report must not.
TEST(TokenizerDecode, IdsWithoutPieceAreLeftOut) {
  const Tokenizer& tok = fixture_tokenizer();
  EXPECT_EQ(tok.decode({262, 512, 262, 100000, -200, 262}), tok.decode({262, 262, 262}));
  EXPECT_EQ(tok.decode({512}), "");
}

TEST(TokenizerDecode, RoundTripsPlainText) {
  const Tokenizer& tok = fixture_tokenizer();
  for (const char* text : {"Hello world", "line one\nline two", "café naïve", "emoji 😀👍", "12345"})
    EXPECT_EQ(tok.decode(tok.encode(text, true)), text);
}

}  // namespace
}  // namespace lvlm::test
