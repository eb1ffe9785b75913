// Byte-level BPE: the tokenizer.json reader on hostile bytes, and encode/decode of hostile text.
// The first input byte picks the mode:
//   even: the rest is a tokenizer.json; when it loads, encode and decode a fixed sentence.
//   odd:  the rest is text, encoded with the Qwen2-VL fixture's tokenizer and decoded back; the
//         Qwen2-VL prompt and its rope positions are built around it when it encodes.
#include <string>

#include "fuzz_util.h"
#include "text/bpe_tokenizer.h"
#include "text/qwen2_vl_prompt.h"

namespace {

const lvlm::BpeTokenizer& fixture_tokenizer() {
  static const lvlm::BpeTokenizer tok = lvlm::BpeTokenizer::load(LVLM_FUZZ_QWEN_DIR);
  return tok;
}

void round_trip(const lvlm::BpeTokenizer& tok, const std::string& text) {
  const std::vector<int> ids = tok.encode(text, true);
  for (int id : ids)
    if (id < 0 || id >= tok.vocab_size()) std::abort();  // encode must return ids of this tokenizer
  (void)tok.decode(ids, true);
  (void)tok.decode(ids, false);
  for (int id : ids) (void)tok.token_text(id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest = lvlm::fuzz::as_view(data + 1, size - 1);
  lvlm::fuzz::expect_only_lvlm_errors([&] {
    if (data[0] % 2 == 0) {
      const lvlm::BpeTokenizer tok = lvlm::BpeTokenizer::parse(rest, "tokenizer.json");
      round_trip(tok, "<|im_start|>user\nWhat's in 3 images? caf\xC3\xA9 \xF0\x9F\x98\x80<|im_end|>");
    } else {
      const std::string text(rest.substr(0, 4096));
      round_trip(fixture_tokenizer(), text);
      const auto& tok = fixture_tokenizer();
      const std::vector<int> ids = lvlm::qwen2_vl_prompt_ids(tok, text, 6, std::string("system"));
      (void)lvlm::qwen2_vl_rope_index(ids, *tok.added_token_id("<|image_pad|>"), *tok.added_token_id("<|vision_start|>"),
                                      {1, 4, 6}, 2);
    }
  });
  return 0;
}
