// Prompt templates, LLaVA's tokenizer_image_token and --input-ids parsing (src/text/prompt.cc).
#include <algorithm>

#include "text/text_test_util.h"

namespace lvlm::test {
namespace {

PromptTemplate fixture_format(const std::string& format) {
  if (format == "llava_v1") return PromptTemplate::llava_v1;
  if (format == "hf_doc") return PromptTemplate::llava_hf;
  throw std::runtime_error("unknown format " + format);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

TEST(PromptTemplate, ParseNamesAndAliases) {
  EXPECT_EQ(parse_template("llava_v1"), PromptTemplate::llava_v1);
  EXPECT_EQ(parse_template("llava-v1"), PromptTemplate::llava_v1);
  EXPECT_EQ(parse_template("vicuna_v1"), PromptTemplate::vicuna_v1);
  EXPECT_EQ(parse_template("llava-hf"), PromptTemplate::llava_hf);
  EXPECT_EQ(parse_template("llava_hf"), PromptTemplate::llava_hf);
  EXPECT_EQ(parse_template("raw"), PromptTemplate::raw);
  for (auto t : {PromptTemplate::llava_v1, PromptTemplate::vicuna_v1, PromptTemplate::llava_hf, PromptTemplate::raw})
    EXPECT_EQ(parse_template(template_name(t)), t);
}

TEST(PromptTemplate, UnknownNameListsValidOnes) {
  try {
    parse_template("chatml");
    FAIL() << "no UsageError";
  } catch (const UsageError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_EQ(std::string(e.what()), "--template: unknown template 'chatml' (valid: llava_v1, vicuna_v1, llava-hf, raw)");
  }
  EXPECT_THROW(parse_template(""), UsageError);
  EXPECT_THROW(parse_template("LLAVA_V1"), UsageError);
}

// tokenization.json "template": the prompt text of every question, and the documented formats.
TEST(PromptTemplate, MatchesReferencePrompts) {
  const Json& t = tokenization_refs()["template"];
  const std::string system = t["system_llava_v1"], vicuna = t["system_vicuna_v1"];
  for (const Json& q : t["questions"]) {
    const std::string question = q["question"];
    EXPECT_EQ(apply_template(fixture_format(q["format"]), question), q["prompt"].get<std::string>());
    const std::string doc_format = q["format"] == "llava_v1" ? t["format"] : t["hf_doc_format"];
    EXPECT_EQ(replace_all(replace_all(doc_format, "{system}", system), "{question}", question), q["prompt"].get<std::string>());
    EXPECT_EQ(apply_template(PromptTemplate::vicuna_v1, question),
              replace_all(replace_all(t["format"], "{system}", vicuna), "{question}", question));
  }
  EXPECT_EQ(apply_template(PromptTemplate::raw, "as <image> given\n"), "as <image> given\n");
}

TEST(PromptTemplate, QuestionWithImageKeepsItsOwn) {
  EXPECT_EQ(apply_template(PromptTemplate::llava_hf, "Look: <image>\nWhat?"), "USER: Look: <image>\nWhat? ASSISTANT:");
  EXPECT_EQ(apply_template(PromptTemplate::llava_hf, ""), "USER: <image>\n ASSISTANT:");
}

// template.questions[].a_llava_tokenizer_image_token: LLaVA's own ids, for both legacy settings
// (LLaVA encodes the chunks separately, so "▁" follows <image> either way), with their pieces.
TEST(BuildPromptIds, MatchesLlavaTokenizerImageToken) {
  TempDir dir;
  const Tokenizer non_legacy = Tokenizer::load(write_tokenizer_dir(dir, fixture_files_with({{"legacy", false}})));
  const Tokenizer& legacy = fixture_tokenizer();
  for (const Json& q : tokenization_refs()["template"]["questions"]) {
    SCOPED_TRACE(q["prompt"].get<std::string>());
    const PromptTemplate t = fixture_format(q["format"]);
    const auto a_true = build_prompt_ids(legacy, t, q["question"], 510);
    const auto a_false = build_prompt_ids(non_legacy, t, q["question"], 510);
    EXPECT_EQ(a_true, ids_of(q["a_llava_tokenizer_image_token"]["legacy_true"]));
    EXPECT_EQ(a_false, ids_of(q["a_llava_tokenizer_image_token"]["legacy_false"]));
    EXPECT_EQ(a_true.size(), q["n_ids"].get<size_t>());
    ASSERT_EQ(q["pieces"]["a_legacy_true"].size(), a_true.size());
    for (size_t k = 0; k < a_true.size(); ++k) EXPECT_EQ(legacy.piece(a_true[k]), q["pieces"]["a_legacy_true"][k].get<std::string>());
    const size_t at = std::find(a_true.begin(), a_true.end(), 510) - a_true.begin();
    for (const char* key : {"a_legacy_true", "a_legacy_false", "b_legacy_true"}) {
      const auto& around = q["around_image"][key];
      for (size_t k = 0; k < around.size(); ++k) EXPECT_EQ(legacy.piece(a_true[at - 2 + k]), around[k].get<std::string>()) << key;
    }
    // "same" and "first_difference_index": LLaVA's ids against the whole prompt through the tokenizer.
    const auto b_true = legacy.encode(q["prompt"], true), b_false = non_legacy.encode(q["prompt"], true);
    EXPECT_EQ(a_true == b_true, q["same"]["a_true_vs_b_true"].get<bool>());
    EXPECT_EQ(a_false == b_false, q["same"]["a_false_vs_b_false"].get<bool>());
    EXPECT_EQ(a_true == a_false, q["same"]["a_true_vs_a_false"].get<bool>());
    EXPECT_EQ(b_true == b_false, q["same"]["b_true_vs_b_false"].get<bool>());
    const size_t diff = std::mismatch(a_false.begin(), a_false.end(), b_false.begin()).first - a_false.begin();
    EXPECT_EQ(diff, q["first_difference_index"]["a_false_vs_b_false"].get<size_t>());
  }
}

// tokenization.json "end_to_end": the ids the fixture's probe prompt was generated from.
TEST(BuildPromptIds, EndToEndInputIds) {
  const Json& e = tokenization_refs()["end_to_end"];
  EXPECT_EQ(apply_template(PromptTemplate::llava_v1, e["question"]), e["prompt"].get<std::string>());
  EXPECT_EQ(build_prompt_ids(fixture_tokenizer(), PromptTemplate::llava_v1, e["question"], 510), ids_of(e["input_ids"]));
}

// hf_text_refs.json "prompts": every template over edge-case questions (empty, leading and trailing
// spaces, "<image>" already placed, literal "<s>", non-ASCII) and raw prompts, per tokenizer variant.
class BuildPromptIdsVariant : public ::testing::TestWithParam<std::string> {};

TEST_P(BuildPromptIdsVariant, MatchesLlavaTokenizerImageToken) {
  const Json& v = text_refs_variant(GetParam());
  TempDir dir;
  const Tokenizer tok = Tokenizer::load(write_tokenizer_dir(dir, v["files"]));
  ASSERT_FALSE(v["prompts"].empty());
  for (const Json& p : v["prompts"]) {
    SCOPED_TRACE(::testing::Message() << p["template"] << " " << p["question"].dump());
    const PromptTemplate t = parse_template(p["template"]);
    EXPECT_EQ(apply_template(t, p["question"]), p["prompt"].get<std::string>());
    EXPECT_EQ(build_prompt_ids(tok, t, p["question"], 510), ids_of(p["ids"]));
  }
}

INSTANTIATE_TEST_SUITE_P(Refs, BuildPromptIdsVariant,
                         ::testing::Values("fixture", "legacy_false", "cleanup", "no_prefix_space", "image_strips",
                                           "no_tokenizer_config", "new_specials"));

TEST(BuildPromptIds, ImageTokenIdIsInsertedAsGiven) {
  const auto ids = build_prompt_ids(fixture_tokenizer(), PromptTemplate::raw, "<image>\nHi", 7777);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 7777);
}

std::string usage_error(PromptTemplate t, const std::string& question) {
  try {
    build_prompt_ids(fixture_tokenizer(), t, question, 510);
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no UsageError for " << question;
  return "";
}

TEST(BuildPromptIds, ExactlyOneImage) {
  EXPECT_EQ(usage_error(PromptTemplate::raw, "Describe the picture."),
            "the prompt holds 0 <image> tokens, LLaVA takes exactly one (with --template raw, write <image> where "
            "the image goes)");
  EXPECT_EQ(usage_error(PromptTemplate::raw, "<image><image>"),
            "the prompt holds 2 <image> tokens, LLaVA takes exactly one (with --template raw, write <image> where "
            "the image goes)");
  EXPECT_EQ(usage_error(PromptTemplate::llava_v1, "A <image> and <image>"),
            "the prompt holds 2 <image> tokens, LLaVA takes exactly one (write <image> at most once in the question)");
}

TEST(PromptInputIds, Accepts) {
  EXPECT_EQ(parse_input_ids("1,2,3"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(parse_input_ids(" 1, 2 ,3 "), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(parse_input_ids("0"), (std::vector<int>{0}));
  EXPECT_EQ(parse_input_ids("2147483647"), (std::vector<int>{2147483647}));
  EXPECT_EQ(parse_input_ids("007"), (std::vector<int>{7}));
}

std::string input_ids_error(const std::string& csv) {
  try {
    parse_input_ids(csv);
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no UsageError for '" << csv << "'";
  return "";
}

TEST(PromptInputIds, RejectsJunkWithAPointedMessage) {
  EXPECT_EQ(input_ids_error(""), "--input-ids: item 1 is empty (expected comma-separated token ids such as 1,3148,1001)");
  EXPECT_EQ(input_ids_error("1,,2"), "--input-ids: item 2 is empty (expected comma-separated token ids such as 1,3148,1001)");
  EXPECT_EQ(input_ids_error("1,2,"), "--input-ids: item 3 is empty (expected comma-separated token ids such as 1,3148,1001)");
  EXPECT_EQ(input_ids_error("1,x"), "--input-ids: item 2 'x' is not a token id");
  EXPECT_EQ(input_ids_error("1.5"), "--input-ids: item 1 '1.5' is not a token id");
  EXPECT_EQ(input_ids_error("+3"), "--input-ids: item 1 '+3' is not a token id");
  EXPECT_EQ(input_ids_error("1 2"), "--input-ids: item 1 '1 2' is not a token id");
  EXPECT_EQ(input_ids_error("0x10"), "--input-ids: item 1 '0x10' is not a token id");
  EXPECT_EQ(input_ids_error("2147483648"), "--input-ids: item 1 '2147483648' is too large for a token id");
  EXPECT_EQ(input_ids_error("99999999999999999999999"),
            "--input-ids: item 1 '99999999999999999999999' is too large for a token id");
  // tokenization.json template.llava_image_token_index_original: LLaVA's own image placeholder.
  const int original = tokenization_refs()["template"]["llava_image_token_index_original"];
  EXPECT_EQ(input_ids_error("1," + std::to_string(original) + ",3"),
            "--input-ids: item 2 '-200' is negative; token ids start at 0 (LLaVA's own code writes the image as "
            "-200: use the model's image_token_index instead)");
}

}  // namespace
}  // namespace lvlm::test
