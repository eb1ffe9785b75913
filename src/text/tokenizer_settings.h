// Internal to the text module: what a model directory's tokenizer JSON files say, resolved with
// transformers' precedence rules (PreTrainedTokenizerBase._from_pretrained, 4.40) but before the
// SentencePiece model is consulted.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lvlm::text {

// One entry of `added_tokens_decoder` (or of added_tokens.json). `single_word` and `normalized` are
// not modelled: LLaVA's tokenizers leave them false, and `normalized` only matters for lower-casing
// tokenizers.
struct AddedTokenSpec {
  std::string content;
  int id = -1;
  bool special = false;
  bool lstrip = false;  // eats the whitespace on its left when splitting text
  bool rstrip = false;  // eats the whitespace on its right
};

// A special-token attribute (bos_token, ...): its text, plus the strip flags when the file wrote it
// as an object. Those flags matter only when the token is not already an added token.
struct SpecialTokenSpec {
  std::string content;
  bool lstrip = false;
  bool rstrip = false;
};

struct TokenizerSettings {
  // LlamaTokenizer's defaults when no file says otherwise.
  std::optional<SpecialTokenSpec> bos{SpecialTokenSpec{"<s>"}};
  std::optional<SpecialTokenSpec> eos{SpecialTokenSpec{"</s>"}};
  std::optional<SpecialTokenSpec> unk{SpecialTokenSpec{"<unk>"}};
  std::optional<SpecialTokenSpec> pad;
  std::optional<SpecialTokenSpec> sep, cls, mask;  // unused by LLaMA; special all the same
  std::vector<SpecialTokenSpec> additional_special;
  std::vector<AddedTokenSpec> added;
  bool add_bos_token = true;
  bool legacy = true;  // HF: legacy=None means True (with a warning)
  bool add_prefix_space = true;
  bool clean_up_tokenization_spaces = false;

  // Every special token's text in HF's `all_special_tokens` order (bos, eos, unk, sep, pad, cls,
  // mask, additional), without duplicates.
  std::vector<SpecialTokenSpec> all_special() const;
};

// Reads tokenizer_config.json, special_tokens_map.json and added_tokens.json from `model_dir` (each
// optional). InputError naming the file on malformed content.
TokenizerSettings read_tokenizer_settings(const std::string& model_dir);

}  // namespace lvlm::text
