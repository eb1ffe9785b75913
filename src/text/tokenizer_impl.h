// Internal to the text module: the state behind lvlm::Tokenizer, shared by tokenizer.cc (loading,
// vocabulary), encode.cc and decode.cc. Names follow transformers' slow tokenizer so the code can be
// read side by side with tokenization_utils.py and tokenization_llama.py.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lvlm_probe/text.h"
#include "sentencepiece.h"
#include "tokenizer_settings.h"

namespace lvlm {

// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space.
inline constexpr const char kSpaceSymbol[] = "\xE2\x96\x81";

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Python's str.replace: every non-overlapping occurrence, left to right, in one pass.
inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

struct Tokenizer::Impl {
  std::string model_path;  // <dir>/tokenizer.model, for messages
  text::TokenizerSettings settings;

  // The model as stored (LLaMA: add_dummy_prefix on): HF's sp_model when legacy. Our own
  // SentencePiece (sentencepiece.h), because libsentencepiece cannot share a process with libtorch.
  spm::Model sp;
  // legacy = false only: the same model with add_dummy_prefix off, as HF's get_spm_processor builds
  // it; HF then encodes and decodes with this one (so decoding keeps a leading space).
  std::optional<spm::Model> sp_no_prefix;
  int unk_token_length = 0;  // HF unk_token_length: pieces of the unk text under sp_no_prefix

  int sp_size = 0;  // SentencePiece pieces = HF `vocab_size` (510 in the fixture)
  int vocab = 0;    // one past the largest id, added tokens included
  int bos = -1, eos = -1, unk = -1;

  // HF _added_tokens_encoder / _added_tokens_decoder: every added token, specials included.
  std::map<std::string, int> added_ids;
  std::map<int, text::AddedTokenSpec> added_by_id;
  std::set<int> special_ids;            // HF all_special_ids
  std::set<std::string> special_texts;  // HF all_special_tokens
  // HF `legacy_added_tokens` in _decode: non-special added tokens and additional special tokens
  // beyond the SentencePiece vocabulary ("<image>"). decode() sets them off as separate pieces.
  std::set<std::string> set_apart_texts;

  const spm::Model& hf_sp_model() const { return sp_no_prefix ? *sp_no_prefix : sp; }
  bool has_piece(int id) const { return added_by_id.count(id) || (id >= 0 && id < sp_size); }
  // HF convert_ids_to_tokens for one id: the added token's content, else the SentencePiece piece.
  std::string token(int id) const;
};

}  // namespace lvlm
