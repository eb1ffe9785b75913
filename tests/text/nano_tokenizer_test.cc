// nano-llava's own tokenizer (tests/data/nano-llava: a SentencePiece BPE model trained on the scene
// grammar, <image> and <pad> added after it) against transformers' LlamaTokenizer on the same files
// (reference.json, scripts/reference/make_nano_refs.py): prompt ids through the llava_v1 template
// and LLaVA's tokenizer_image_token, and the decoded answers.
#include "text/text_test_util.h"

namespace lvlm::test {
namespace {

const Json& nano_refs() {
  static const Json refs = read_json_file(data_path("nano-llava/reference.json"));
  return refs;
}

const Tokenizer& nano_tokenizer() {
  static const Tokenizer tok = Tokenizer::load(data_path("nano-llava"));
  return tok;
}

TEST(NanoTokenizer, AddedTokensFollowTheSentencePieceVocabulary) {
  const int image_id = nano_refs()["tokenization"]["image_token_index"];
  EXPECT_EQ(nano_tokenizer().added_token_id("<image>"), image_id);
  EXPECT_EQ(nano_tokenizer().added_token_id("<pad>"), image_id + 1);
  EXPECT_TRUE(nano_tokenizer().is_special(image_id + 1));
}

TEST(NanoTokenizer, PromptIdsMatchTransformers) {
  const Json& t = nano_refs()["tokenization"];
  ASSERT_GE(t["prompts"].size(), 20u);
  for (const Json& p : t["prompts"]) {
    SCOPED_TRACE(p["question"].dump());
    EXPECT_EQ(apply_template(PromptTemplate::llava_v1, p["question"]), p["prompt"].get<std::string>());
    EXPECT_EQ(build_prompt_ids(nano_tokenizer(), PromptTemplate::llava_v1, p["question"], t["image_token_index"]),
              p["ids"].get<std::vector<int>>());
  }
}

TEST(NanoTokenizer, AnswersDecodeAsTransformers) {
  for (const Json& c : nano_refs()["cases"]) {
    SCOPED_TRACE(c["question"].dump());
    EXPECT_EQ(nano_tokenizer().decode(c["new_token_ids"].get<std::vector<int>>()), c["decoded"].get<std::string>());
  }
}

}  // namespace
}  // namespace lvlm::test
