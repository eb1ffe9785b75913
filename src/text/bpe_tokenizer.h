// Byte-level BPE from a Hugging Face tokenizer.json (GPT-2's scheme, as Qwen2, Qwen2-VL and
// Qwen2.5-VL ship it), run as transformers' fast tokenizer runs it through the `tokenizers` library
// (0.22): added tokens are cut out of the raw text first (leftmost, longest), the rest is normalised
// (NFC when the file asks for it), split by the pre-tokenizer's regex (PCRE2 with Unicode classes),
// mapped byte by byte to GPT-2's printable characters and merged by rank. Free of libtorch.
//
// References: huggingface/tokenizers (added_vocabulary.rs, models/bpe/word.rs,
// pre_tokenizers/byte_level.rs, decoders' ByteLevel), transformers' PreTrainedTokenizerFast._decode.
// Test oracles: tests/data/tiny-qwen2-vl/tokenization.json and tests/data/tiny-qwen2.5-vl/
// (scripts/reference/make_qwen_fixtures.py).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lvlm_probe/text.h"

namespace lvlm {

// tokenizer.json files are read whole up to this size (Qwen2's is 7 MB, Llama 3's 9 MB).
constexpr size_t kMaxTokenizerJsonBytes = 64u << 20;

class BpeTokenizer final : public TextTokenizer {
 public:
  // `model_dir`/tokenizer.json. InputError naming the file when it is missing, malformed, or uses
  // what this implementation does not (another model type, byte fallback, pre-tokenizers other
  // than ByteLevel and a regex Split, normalizers other than NFC).
  static BpeTokenizer load(const std::string& model_dir);
  // The same from the file's text; `origin` names it in messages.
  static BpeTokenizer parse(std::string_view tokenizer_json, const std::string& origin);

  // = HF `tokenizer(text, add_special_tokens=add_special).input_ids`: add_special applies the
  // file's TemplateProcessing post-processor (BOS and the like; Qwen's has none). Text that is not
  // valid UTF-8 is an InputError (Python strings always are).
  std::vector<int> encode(const std::string& text, bool add_special = true) const override;
  // = HF `tokenizer.decode(ids, skip_special_tokens=skip_special)`: the tokens' bytes concatenated
  // and read as UTF-8, each malformed sequence becoming one U+FFFD (a token may hold part of a
  // character). Special added tokens are skipped when asked, other added tokens kept; ids
  // outside the vocabulary have no text.
  std::string decode(const std::vector<int>& ids, bool skip_special = true) const override;
  // One token as a reader sees it: its text when that is valid UTF-8, otherwise each byte of a
  // partial character as "<0xNN>"; added tokens as their content; "" for an id without a token.
  std::string token_text(int id) const override;

  int vocab_size() const override;  // one past the largest id of the vocabulary and the added tokens
  std::optional<int> added_token_id(const std::string& content) const override;
  std::optional<int> token_id(const std::string& byte_level_token) const;  // vocabulary or added
  bool is_special(int id) const;

  struct Impl;  // src/text/bpe_impl.h

 private:
  explicit BpeTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable after load: copies share it, threads may too
};

}  // namespace lvlm
