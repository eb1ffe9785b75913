// Ids -> text, as HF's slow LlamaTokenizer.decode (transformers 4.40, tokenization_utils.py
// _decode and tokenization_llama.py convert_tokens_to_string), quirks included, because reports
// should show the text a transformers user sees:
//  - the first token loses its leading "▁" (add_prefix_space), so " leading" decodes as "leading";
//  - special tokens kept in the text are glued on, with a space before one that follows text
//    (legacy): "a</s>a" decodes as " a</s>a";
//  - added tokens beyond the SentencePiece vocabulary ("<image>") are decoded apart and joined with
//    spaces: _decode's spaces_between_special_tokens defaults to True and 4.40 does not pass the
//    config's `spaces_between_special_tokens: false` on (the fixture's references show the spaces).
// Pieces are turned into text by SentencePiece itself (DecodePieces), as HF does; with legacy=False
// that is the model without the dummy prefix, which keeps the text's leading space.
#include "lvlm_probe/common.h"
#include "tokenizer_impl.h"

namespace lvlm {
namespace {

std::string sp_decode(const Tokenizer::Impl& m, const std::vector<std::string>& pieces) {
  return pieces.empty() ? std::string() : m.hf_sp_model().decode(pieces);
}

// LlamaTokenizer.convert_tokens_to_string.
std::string tokens_to_string(const Tokenizer::Impl& m, std::vector<std::string> tokens) {
  const bool prefix_space = m.settings.add_prefix_space;
  if (prefix_space && starts_with(tokens[0], kSpaceSymbol)) tokens[0].erase(0, sizeof kSpaceSymbol - 1);
  std::string out;
  std::vector<std::string> pending;  // ordinary pieces not yet decoded
  bool prev_special = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (m.special_texts.count(tokens[i])) {
      if (!prev_special && i != 0 && m.settings.legacy) out += ' ';
      out += sp_decode(m, pending) + tokens[i];
      pending.clear();
      prev_special = true;
    } else {
      if (prev_special && i == 1 && prefix_space && !starts_with(tokens[i], kSpaceSymbol)) out += ' ';
      pending.push_back(tokens[i]);
      prev_special = false;
    }
  }
  return out + sp_decode(m, pending);
}

// PreTrainedTokenizerBase.clean_up_tokenization, applied when the config asks for it.
std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) s = replace_all(std::move(s), from, to);
  return s;
}

}  // namespace

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::vector<std::string> parts, pending;
  auto flush = [&](bool keep_empty) {
    if (pending.empty()) return;
    std::string s = tokens_to_string(m, pending);
    if (keep_empty || !s.empty()) parts.push_back(std::move(s));
    pending.clear();
  };
  for (int id : ids) {
    if (!m.has_piece(id) || (skip_special && m.special_ids.count(id))) continue;
    std::string token = m.token(id);
    if (m.set_apart_texts.count(token)) {
      flush(/*keep_empty=*/false);
      parts.push_back(std::move(token));
    } else {
      pending.push_back(std::move(token));
    }
  }
  flush(/*keep_empty=*/true);
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? " " : "") + parts[i];
  return m.settings.clean_up_tokenization_spaces ? clean_up_tokenization(text) : text;
}

}  // namespace lvlm
