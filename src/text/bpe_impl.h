// The parsed tokenizer.json behind BpeTokenizer (bpe_load.cc builds it; bpe_encode.cc and
// bpe_decode.cc read it).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bpe_tokenizer.h"

namespace lvlm {

struct BpeAddedToken {
  std::string content;
  int id = 0;
  bool special = false;
  bool normalized = false;  // matched in the normalised text rather than the raw one
  bool lstrip = false, rstrip = false, single_word = false;
};

// A compiled PCRE2 pattern (UTF, Unicode properties); shared, matched with per-call match data.
class BpeRegex {
 public:
  BpeRegex(const std::string& pattern, const std::string& origin);
  ~BpeRegex();
  BpeRegex(const BpeRegex&) = delete;
  BpeRegex& operator=(const BpeRegex&) = delete;
  // Pieces of `text` as a Split pre-tokenizer with behaviour Isolated makes them: every match and
  // every stretch between matches, in order.
  std::vector<std::string_view> split_isolated(std::string_view text) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8
};

struct BpeTokenizer::Impl {
  std::string origin;
  std::unordered_map<std::string, int> vocab;  // byte-level token -> id
  std::vector<std::string> id_to_token;        // byte-level token, or added token content; "" = none
  std::unordered_map<std::string, int> merge_rank;  // left + '\0' + right -> rank
  std::vector<BpeAddedToken> added;
  std::vector<bool> special;  // by id
  bool nfc = false;
  std::shared_ptr<const BpeRegex> split;  // null: no regex split
  bool add_prefix_space = false;
  bool ignore_merges = false;
  std::vector<int> prefix_ids, suffix_ids;  // TemplateProcessing's single sequence around $A
  std::array<std::string, 256> byte_char;   // GPT-2's bytes_to_unicode, as UTF-8
  std::unordered_map<std::string, uint8_t> char_byte;

  std::vector<int> bpe(std::string_view word) const;  // one pre-token's byte-level text -> ids
};

// GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the others for U+0100 on.
void fill_byte_level_alphabet(BpeTokenizer::Impl& impl);

}  // namespace lvlm
