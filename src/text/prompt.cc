// Prompt templates and prompt ids, as the LLaVA repository builds them (haotian-liu/LLaVA:
// llava/conversation.py conv_llava_v1 / conv_vicuna_v1, llava/eval/run_llava.py,
// llava/mm_utils.py tokenizer_image_token), and `--input-ids` parsing.
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "lvlm_probe/common.h"
#include "lvlm_probe/text.h"

namespace lvlm {
namespace {

// LLaVA's DEFAULT_IMAGE_TOKEN: where the image goes in the prompt text.
const char kImageToken[] = "<image>";

const char kSystemLlavaV1[] =
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.";
const char kSystemVicunaV1[] =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

struct TemplateName {
  PromptTemplate t;
  const char* name;
};
const TemplateName kTemplates[] = {{PromptTemplate::llava_v1, "llava_v1"},
                                   {PromptTemplate::vicuna_v1, "vicuna_v1"},
                                   {PromptTemplate::llava_hf, "llava-hf"},
                                   {PromptTemplate::raw, "raw"}};

std::string with_underscores(std::string s) {
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

// run_llava.py: the image goes first, on its own line, unless the question places it itself.
std::string user_message(const std::string& question) {
  return question.find(kImageToken) != std::string::npos ? question : std::string(kImageToken) + "\n" + question;
}

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at = s.find(sep); at != std::string::npos; at = s.find(sep, start)) {
    out.push_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  out.push_back(s.substr(start));
  return out;
}

}  // namespace

PromptTemplate parse_template(const std::string& name) {
  std::string valid;
  for (const auto& t : kTemplates) {
    if (with_underscores(name) == with_underscores(t.name)) return t.t;
    valid += std::string(valid.empty() ? "" : ", ") + t.name;
  }
  throw UsageError("--template: unknown template '" + name + "' (valid: " + valid + ")");
}

std::string template_name(PromptTemplate t) {
  for (const auto& n : kTemplates)
    if (n.t == t) return n.name;
  return "unknown";
}

std::string apply_template(PromptTemplate t, const std::string& question) {
  // conv_llava_v1 and conv_vicuna_v1 use SeparatorStyle.TWO with sep " ": system + sep, then
  // "USER: " + message + sep, then "ASSISTANT:" for the empty assistant turn.
  switch (t) {
    case PromptTemplate::llava_v1:
      return std::string(kSystemLlavaV1) + " USER: " + user_message(question) + " ASSISTANT:";
    case PromptTemplate::vicuna_v1:
      return std::string(kSystemVicunaV1) + " USER: " + user_message(question) + " ASSISTANT:";
    case PromptTemplate::llava_hf:
      return "USER: " + user_message(question) + " ASSISTANT:";
    case PromptTemplate::raw:
      break;
  }
  return question;
}

std::vector<int> build_prompt_ids(const Tokenizer& tok, PromptTemplate t, const std::string& question,
                                  int image_token_id) {
  const std::vector<std::string> chunks = split(apply_template(t, question), kImageToken);
  if (chunks.size() != 2) {
    const std::string n = std::to_string(chunks.size() - 1);
    throw UsageError("the prompt holds " + n + " <image> tokens, LLaVA takes exactly one" +
                     (t == PromptTemplate::raw ? " (with --template raw, write <image> where the image goes)"
                                               : " (write <image> at most once in the question)"));
  }
  // tokenizer_image_token: every chunk is encoded as tokenizer(chunk) would, BOS included; when the
  // first chunk starts with BOS, that BOS is kept once and every chunk loses its first id.
  std::vector<std::vector<int>> encoded;
  for (const auto& c : chunks) encoded.push_back(tok.encode(c, tok.add_bos_token()));
  const bool offset = !encoded[0].empty() && encoded[0][0] == tok.bos_id();
  std::vector<int> ids;
  if (offset) ids.push_back(encoded[0][0]);
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (i > 0) ids.push_back(image_token_id);
    ids.insert(ids.end(), encoded[i].begin() + (offset && !encoded[i].empty() ? 1 : 0), encoded[i].end());
  }
  return ids;
}

std::vector<int> parse_input_ids(const std::string& csv) {
  const std::vector<std::string> items = split(csv, ",");
  std::vector<int> ids;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& raw = items[i];
    const size_t b = raw.find_first_not_of(" \t"), e = raw.find_last_not_of(" \t");
    const std::string item = b == std::string::npos ? "" : raw.substr(b, e - b + 1);
    const std::string where = "--input-ids: item " + std::to_string(i + 1);
    if (item.empty())
      throw UsageError(where + " is empty (expected comma-separated token ids such as 1,3148,1001)");
    if (item[0] == '-')
      throw UsageError(where + " '" + item +
                       "' is negative; token ids start at 0 (LLaVA's own code writes the image as -200: "
                       "use the model's image_token_index instead)");
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || item[0] == '+') throw UsageError(where + " '" + item + "' is not a token id");
    if (errno == ERANGE || v > INT_MAX) throw UsageError(where + " '" + item + "' is too large for a token id");
    ids.push_back(static_cast<int>(v));
  }
  return ids;
}

}  // namespace lvlm
