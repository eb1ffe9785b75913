// Text in and out of the model: the LLaMA SentencePiece tokenizer exactly as Hugging Face's slow
// `LlamaTokenizer` (transformers 4.40) uses it, LLaVA's prompt templates, and the prompt ids as
// LLaVA's `tokenizer_image_token` builds them. Free of libtorch.
//
// References: transformers/models/llama/tokenization_llama.py and tokenization_utils.py (added-token
// splitting, decode); haotian-liu/LLaVA llava/conversation.py (templates) and llava/mm_utils.py
// (tokenizer_image_token). Test oracles: tests/data/tiny-llava/tokenization.json and
// tests/data/text/hf_text_refs.json (scripts/reference/make_text_refs.py).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lvlm {

// tokenizer.model files are read whole up to this size (LLaMA's is 500 KB; the largest
// SentencePiece vocabularies in use, 256k pieces, stay under 5 MB).
constexpr uint64_t kMaxTokenizerModelBytes = 64ull << 20;

// What the probe needs of any family's tokenizer: prompt text -> ids, answer ids -> text, and one
// token's text for reports. SentencePiece (Tokenizer below) and byte-level BPE implement it.
class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  // Ids of `text`; add_special adds what the tokenizer adds by default (LLaMA's BOS).
  virtual std::vector<int> encode(const std::string& text, bool add_special) const = 0;
  // The text a transformers user sees from tokenizer.decode(ids, skip_special_tokens=skip_special).
  virtual std::string decode(const std::vector<int>& ids, bool skip_special = true) const = 0;
  // One token as a person reads it in a report, always valid UTF-8; "" for an id without one.
  virtual std::string token_text(int id) const = 0;
  virtual int vocab_size() const = 0;  // one past the largest id
  virtual std::optional<int> added_token_id(const std::string& content) const = 0;  // "<image>" -> 510
};

class Tokenizer final : public TextTokenizer {
 public:
  // `model_dir` holds tokenizer.model (SentencePiece) and optionally tokenizer_config.json,
  // special_tokens_map.json and added_tokens.json, read with transformers' precedence: the config's
  // `added_tokens_decoder`, when present, is the whole list of added tokens; otherwise the special
  // tokens map overrides the config and added_tokens.json supplies the added tokens. Honoured keys:
  // bos/eos/unk/pad_token, additional_special_tokens, add_bos_token, legacy (absent = true, as HF),
  // add_prefix_space, clean_up_tokenization_spaces.
  // InputError naming the file when a file is missing, unreadable or malformed, or when
  // tokenizer.model is not a BPE SentencePiece model without normalisation rules (LLaMA's kind).
  // The model is read by the module's own SentencePiece (src/text/sentencepiece.h), not
  // libsentencepiece, whose bundled protobuf aborts a process that also loads libtorch.
  static Tokenizer load(const std::string& model_dir);
  // The same from a SentencePiece file of any name and the JSON files of `settings_dir`
  // (make-model checks a tokenizer where it is, before its copy is in place).
  static Tokenizer load(const std::string& model_file, const std::string& settings_dir);

  // = HF `tokenizer(text).input_ids` (add_bos = true) or with add_special_tokens=False (add_bos =
  // false): added tokens ("<image>", and "<s>", "</s>", "<unk>", "<pad>" written literally) are cut
  // out of the text first and become their ids; every other chunk goes through SentencePiece, which
  // prefixes "▁" to each chunk (legacy = true). With legacy = false the HF non-legacy rules apply
  // (one "▁" for the whole text, none after an added token). add_eos_token is not honoured.
  std::vector<int> encode(const std::string& text, bool add_bos) const override;

  // = HF `tokenizer.decode(ids, skip_special_tokens=skip_special)`, quirks included: the leading
  // space of the text is dropped, special tokens kept in the text are joined by the legacy spacing
  // rules, and added tokens beyond the SentencePiece vocabulary ("<image>") are set off by spaces
  // (transformers 4.40 ignores the config's spaces_between_special_tokens=false for slow
  // tokenizers). Ids without a piece (outside the vocabulary) have no text and are left out.
  std::string decode(const std::vector<int>& ids, bool skip_special = true) const override;

  // The raw piece: "▁m", "<0x0A>", or an added token's content ("<image>"); "" for an id without one.
  std::string piece(int id) const;
  // One token as a person reads it in a report: special and added tokens as their content ("<s>");
  // "▁" as a space (so "▁m" -> " m"); a byte piece "<0xNN>" as that character when it is printable
  // ASCII, a tab, a newline or a carriage return, otherwise kept as "<0xNN>" (one byte of a
  // multi-byte character is not valid UTF-8 on its own). The result is always valid UTF-8; "" for an
  // id without a piece. Not for reassembling text: use decode().
  std::string token_text(int id) const override;

  int bos_id() const;  // -1 when the tokenizer has none
  int eos_id() const;
  int unk_id() const;
  // One past the largest id: SentencePiece pieces and added tokens ("<image>", "<pad>").
  int vocab_size() const override;
  bool is_special(int id) const;  // bos, eos, unk, pad, additional special tokens: skipped by decode()
  bool add_bos_token() const;     // tokenizer_config.json add_bos_token (default true)
  bool legacy() const;            // tokenizer_config.json legacy (absent or null = true, as HF)
  std::optional<int> added_token_id(const std::string& content) const override;

  struct Impl;  // opaque; defined in src/text/tokenizer_impl.h

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable after load: copies share it, threads may too
};

// How a question becomes the prompt text (README, --template).
enum class PromptTemplate {
  llava_v1,   // LLaVA's conv_llava_v1: "{system} USER: <image>\n{q} ASSISTANT:" (run_llava.py)
  vicuna_v1,  // LLaVA's conv_vicuna_v1: the same with the "user" system sentence (LLaVA-1.5's evals)
  llava_hf,   // llava-hf model cards: "USER: <image>\n{q} ASSISTANT:"
  raw,        // the text as given; it must hold "<image>" itself
};

// "llava_v1", "vicuna_v1", "llava-hf", "raw" ('-' and '_' are interchangeable); UsageError naming
// the valid ones otherwise.
PromptTemplate parse_template(const std::string& name);
std::string template_name(PromptTemplate t);  // the canonical spelling above

// The prompt text. A question that already holds "<image>" keeps it where it is and gets no second
// one; otherwise "<image>\n" goes before the question, as LLaVA's run_llava.py does.
std::string apply_template(PromptTemplate t, const std::string& question);

// The prompt ids as LLaVA's tokenizer_image_token builds them: the prompt text is split at
// "<image>", each chunk is encoded on its own with the tokenizer's BOS, the first chunk keeps its
// BOS and the others lose their first id, and `image_token_id` goes between them. LLaVA feeds one
// image, so the prompt must hold exactly one "<image>": UsageError otherwise (this is what `raw`
// without "<image>" means; text-only prompts are not supported).
std::vector<int> build_prompt_ids(const Tokenizer& tok, PromptTemplate t, const std::string& question,
                                  int image_token_id);

// "--input-ids 1,2,3" (spaces around items allowed) -> {1,2,3}. UsageError on an empty list, an
// empty item, a negative or non-numeric item, or one beyond the int range. Checking the ids against
// the vocabulary and the image tokens is the model's job.
std::vector<int> parse_input_ids(const std::string& csv);

}  // namespace lvlm
