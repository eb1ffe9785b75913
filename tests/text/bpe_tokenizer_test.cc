// Byte-level BPE (src/text/bpe_*.cc) against transformers' fast tokenizer on the two Qwen fixtures'
// own tokenizers (tokenization.json, scripts/reference/make_qwen_fixtures.py), plus hand-made
// tokenizer.json files for merge order, added-token options, decoding of partial characters and
// every refusal.
#include <gtest/gtest.h>

#include "../../src/text/bpe_tokenizer.h"
#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm::test {
namespace {

const char* const kFixtures[] = {"tiny-qwen2-vl", "tiny-qwen2.5-vl"};

class QwenTokenizer : public ::testing::TestWithParam<const char*> {
 protected:
  std::string dir() const { return data_path(GetParam()); }
  Json refs() const { return read_json_file(dir() + "/tokenization.json"); }
};

TEST_P(QwenTokenizer, IdsEqualTheFastTokenizerOnEveryText) {
  const BpeTokenizer tok = BpeTokenizer::load(dir());
  const Json r = refs();
  ASSERT_GE(r["texts"].size(), 20u);
  for (const Json& t : r["texts"])
    EXPECT_EQ(tok.encode(t["text"].get<std::string>()), t["ids"].get<std::vector<int>>()) << t["text"];
  for (const Json& t : r["random_texts"])
    EXPECT_EQ(tok.encode(t["text"].get<std::string>()), t["ids"].get<std::vector<int>>()) << t["text"];
}

TEST_P(QwenTokenizer, DecodingEqualsTheFastTokenizer) {
  const BpeTokenizer tok = BpeTokenizer::load(dir());
  const Json r = refs();  // kept alive: a range-for over refs()["texts"] would walk a destroyed temporary
  ASSERT_GE(r["texts"].size(), 20u);
  for (const Json& t : r["texts"]) {
    const auto ids = t["ids"].get<std::vector<int>>();
    EXPECT_EQ(tok.decode(ids, true), t["decode_skip_special"].get<std::string>()) << t["text"];
    EXPECT_EQ(tok.decode(ids, false), t["decode_keep_special"].get<std::string>()) << t["text"];
    for (size_t i = 0; i < ids.size(); ++i)  // one id alone may be part of a character: U+FFFD
      EXPECT_EQ(tok.decode({ids[i]}, false), t["decode_each"][i].get<std::string>()) << t["text"] << " #" << i;
  }
}

TEST_P(QwenTokenizer, AddedAndSpecialTokensAsTheFileLists) {
  const BpeTokenizer tok = BpeTokenizer::load(dir());
  const Json r = refs();
  EXPECT_EQ(tok.vocab_size(), r["vocab_size_with_added"].get<int>());
  for (const auto& [content, id] : r["added_tokens"].items()) {
    EXPECT_EQ(tok.added_token_id(content), id.get<int>()) << content;
    const bool special = std::find(r["special_tokens"].begin(), r["special_tokens"].end(), content) != r["special_tokens"].end();
    EXPECT_EQ(tok.is_special(id.get<int>()), special) << content;
  }
  EXPECT_EQ(tok.added_token_id("<|not_a_token|>"), std::nullopt);
}

TEST_P(QwenTokenizer, GeneratedAnswersDecodeAsTransformersDecodedThem) {
  const BpeTokenizer tok = BpeTokenizer::load(dir());
  const Json ref = read_json_file(dir() + "/reference.json");
  for (const Json& c : ref["cases"]) {
    const auto ids = c["new_token_ids"].get<std::vector<int>>();
    EXPECT_EQ(tok.decode(ids, true), c["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, false), c["decoded_keep_special"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QwenTokenizer, ::testing::ValuesIn(kFixtures));

// A minimal byte-level tokenizer.json: the 256 byte characters, then `extra` tokens, `merges`,
// `added` tokens; Qwen2's pre-tokenizer unless `pre_tokenizer` is given.
Json tiny_tokenizer(const std::vector<std::string>& extra, const Json& merges, const Json& added = Json::array()) {
  Json vocab = Json::object();
  int id = 0, next = 256;
  for (int b = 0; b < 256; ++b) {  // GPT-2's bytes_to_unicode
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = printable ? b : next++;
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
    vocab[s] = id++;
  }
  for (const auto& t : extra) vocab[t] = id++;
  const Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"},
               {"pattern", {{"Regex", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              byte_level}}}},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
}

BpeTokenizer parse(const Json& j) { return BpeTokenizer::parse(j.dump(), "tok/tokenizer.json"); }
int id_of(const BpeTokenizer& t, const std::string& s) { return t.token_id(s).value_or(-1); }

TEST(BpeTokenizer, MergesApplyLowestRankFirstAndLeftmostWhenOverlapping) {
  // "aaa": (a a) at rank 0 merges the first pair only; "abc": (b c) outranks (a b).
  const BpeTokenizer t = parse(tiny_tokenizer({"aa", "bc", "ab", "abc"}, {"a a", "b c", "a b", "a bc"}));
  EXPECT_EQ(t.encode("aaa"), (std::vector<int>{id_of(t, "aa"), id_of(t, "a")}));
  EXPECT_EQ(t.encode("abc"), (std::vector<int>{id_of(t, "abc")}));
  EXPECT_EQ(t.encode("ab"), (std::vector<int>{id_of(t, "ab")}));
}

TEST(BpeTokenizer, LongWordsMergeAsShortOnes) {
  // 100,000 letters in one pre-token: the merge queue handles them (a rescan per merge would not).
  const BpeTokenizer t = parse(tiny_tokenizer({"ab", "abab"}, {"a b", "ab ab"}));
  std::string word;
  for (int i = 0; i < 50000; ++i) word += "ab";
  const auto ids = t.encode(word + "a");
  ASSERT_EQ(ids.size(), 25001u);
  EXPECT_EQ(ids.front(), id_of(t, "abab"));
  EXPECT_EQ(ids.back(), 'a');
}

TEST(BpeTokenizer, MergePairsAndMergeStringsAreTheSame) {
  const BpeTokenizer strings = parse(tiny_tokenizer({"ab"}, {"a b"}));
  const BpeTokenizer pairs = parse(tiny_tokenizer({"ab"}, Json::array({Json::array({"a", "b"})})));
  EXPECT_EQ(strings.encode("abab ab"), pairs.encode("abab ab"));
  EXPECT_EQ(strings.encode("ab").size(), 1u);
}

TEST(BpeTokenizer, AddedTokensAreCutOutLongestFirstWithTheirStripOptions) {
  const Json added = {{{"id", 300}, {"content", "<x>"}, {"special", true}, {"normalized", false}},
                      {{"id", 301}, {"content", "<x>y"}, {"special", false}, {"normalized", false}},
                      {{"id", 302}, {"content", "[R]"}, {"special", true}, {"normalized", false}, {"rstrip", true}, {"lstrip", true}},
                      {{"id", 303}, {"content", "w"}, {"special", false}, {"normalized", false}, {"single_word", true}}};
  const BpeTokenizer t = parse(tiny_tokenizer({}, Json::array(), added));
  EXPECT_EQ(t.encode("<x>y<x>"), (std::vector<int>{301, 300}));
  EXPECT_EQ(t.encode("a [R] b"), (std::vector<int>{id_of(t, "a"), 302, id_of(t, "b")}));
  EXPECT_EQ(t.encode("w aw"), (std::vector<int>{303, ' ', 'a', 'w'}));  // in tiny_tokenizer a byte's id is the byte
  EXPECT_EQ(t.decode({300, 301}, true), "<x>y");
  EXPECT_EQ(t.decode({300, 301}, false), "<x><x>y");
}

TEST(BpeTokenizer, NfcComposesBeforeTheSplit) {
  const BpeTokenizer t = parse(tiny_tokenizer({}, Json::array()));
  EXPECT_EQ(t.encode("e\xCC\x81"), t.encode("\xC3\xA9"));  // e + U+0301 -> U+00E9
  EXPECT_EQ(t.encode("\xC3\xA9").size(), 2u);              // two bytes, no merges
}

TEST(BpeTokenizer, PartialCharactersDecodeToOneReplacementEach) {
  const BpeTokenizer t = parse(tiny_tokenizer({}, Json::array()));
  const auto euro = t.encode("\xE2\x82\xAC");  // three byte tokens
  ASSERT_EQ(euro.size(), 3u);
  EXPECT_EQ(t.decode(euro), "\xE2\x82\xAC");
  EXPECT_EQ(t.decode({euro[0], euro[1]}), "\xEF\xBF\xBD");           // one maximal subpart
  EXPECT_EQ(t.decode({euro[1], euro[2]}), "\xEF\xBF\xBD\xEF\xBF\xBD");  // two lone continuations
  EXPECT_EQ(t.token_text(euro[0]), "<0xE2>");
  EXPECT_EQ(t.token_text(id_of(t, "a")), "a");
  EXPECT_EQ(t.decode({-1, 99999}), "");  // ids without a token have no text
}

TEST(BpeTokenizer, InvalidUtf8TextIsRefused) {
  const BpeTokenizer t = parse(tiny_tokenizer({}, Json::array()));
  EXPECT_EQ(input_error_of([&] { t.encode("a\xFF"); }), "prompt text: not valid UTF-8 at byte 1");
  EXPECT_EQ(input_error_of([&] { t.encode("ab\xED\xA0\x80"); }), "prompt text: not valid UTF-8 at byte 2");  // a surrogate
}

TEST(BpeTokenizer, BadFilesAreInputErrorsNamingTheFileAndKey) {
  const Json good = tiny_tokenizer({"ab"}, {"a b"});
  auto error = [](const std::string& text) { return input_error_of([&] { BpeTokenizer::parse(text, "tok/tokenizer.json"); }); };
  auto with = [&](const std::string& pointer, const Json& value) {
    Json j = good;
    j[Json::json_pointer(pointer)] = value;
    return error(j.dump());
  };
  EXPECT_NE(error("{\"model\": ").find("tok/tokenizer.json: "), std::string::npos);
  EXPECT_NE(error("[]").find("tok/tokenizer.json: "), std::string::npos);
  EXPECT_NE(with("/model/type", "WordPiece").find("model.type"), std::string::npos);
  EXPECT_NE(with("/model/byte_fallback", true).find("model.byte_fallback"), std::string::npos);
  EXPECT_NE(with("/model/merges/0", "a zz").find("model.merges[0]"), std::string::npos);
  EXPECT_NE(with("/model/merges/0", 7).find("model.merges[0]"), std::string::npos);
  EXPECT_NE(with("/model/vocab/a", -3).find("model.vocab.a"), std::string::npos);
  EXPECT_NE(with("/model/vocab/a", 99999999999).find("model.vocab.a"), std::string::npos);
  EXPECT_NE(with("/model/vocab/ab", 0).find("used twice"), std::string::npos);
  EXPECT_NE(with("/normalizer/type", "NFKD").find("normalizer.type"), std::string::npos);
  EXPECT_NE(with("/pre_tokenizer/pretokenizers/0/pattern/Regex", "(").find("regex does not compile"), std::string::npos);
  EXPECT_NE(with("/pre_tokenizer/pretokenizers/0/behavior", "Removed").find("behavior"), std::string::npos);
  EXPECT_NE(with("/pre_tokenizer", nullptr).find("pre_tokenizer"), std::string::npos);
  EXPECT_NE(with("/decoder", nullptr).find("decoder"), std::string::npos);
  EXPECT_NE(with("/added_tokens", Json::array({{{"content", "<x>"}}})).find("added_tokens[0].id"), std::string::npos);
  Json missing_byte = good;
  missing_byte["model"]["vocab"].erase("a");
  EXPECT_NE(error(missing_byte.dump()).find("not a byte-level BPE"), std::string::npos);
  EXPECT_NE(input_error_of([] { BpeTokenizer::load("/nonexistent-dir"); }).find("/nonexistent-dir/tokenizer.json"),
            std::string::npos);
}

TEST(BpeTokenizer, TemplateProcessingAddsItsTokensOnlyWhenAsked) {
  Json j = tiny_tokenizer({}, Json::array(), {{{"id", 300}, {"content", "<s>"}, {"special", true}, {"normalized", false}}});
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {300}}, {"tokens", {"<s>"}}}}}}};
  const BpeTokenizer t = parse(j);
  EXPECT_EQ(t.encode("a", true), (std::vector<int>{300, id_of(t, "a")}));
  EXPECT_EQ(t.encode("a", false), (std::vector<int>{id_of(t, "a")}));
}

}  // namespace
}  // namespace lvlm::test
