// SentencePiece: the ModelProto parser on hostile bytes, and encode/decode of hostile text.
// The first input byte picks the mode:
//   even: the rest is a tokenizer.model; when it parses, encode and decode a fixed sentence.
//   odd:  the rest is text, encoded with the fixture's tokenizer.model (LLaMA's BPE rules) and
//         decoded back from the pieces.
#include <string>

#include "fuzz_util.h"
#include "text/sentencepiece.h"

namespace {

const lvlm::spm::Model& fixture_model() {
  static const lvlm::spm::Model model =
      lvlm::spm::Model::parse(lvlm::read_file(LVLM_FUZZ_TOKENIZER), LVLM_FUZZ_TOKENIZER);
  return model;
}

void round_trip(const lvlm::spm::Model& m, std::string_view text) {
  std::vector<int> ids = m.encode(text);
  std::vector<std::string> pieces;
  for (int id : ids) {
    if (id < 0 || id >= m.size()) std::abort();  // encode must return ids of this model
    pieces.push_back(m.id_to_piece(id));
  }
  (void)m.decode(pieces);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest = lvlm::fuzz::as_view(data + 1, size - 1);
  lvlm::fuzz::expect_only_lvlm_errors([&] {
    if (data[0] % 2 == 0) {
      lvlm::spm::Model m = lvlm::spm::Model::parse(rest, "tokenizer.model");
      round_trip(m, "USER: <image>\nWhat is shown in this image? ASSISTANT: \xE2\x96\x81 caf\xC3\xA9 \xFF");
    } else {
      round_trip(fixture_model(), rest.substr(0, 4096));
    }
  });
  return 0;
}
