// A SentencePiece BPE model read from tokenizer.model and applied exactly as libsentencepiece
// (0.1.97, what transformers' slow LlamaTokenizer calls) does: identity normalisation with the
// dummy prefix and "▁" for spaces, score-ordered BPE merges, byte fallback, and decoding.
//
// Why not link libsentencepiece: Debian's build bundles its own protobuf 3.14 runtime and exports
// it, while libtorch loads protobuf 3.21; in one process the two collide at start-up (a crash in
// static initialisation). The tests check this implementation against libsentencepiece itself
// (tests/text/sentencepiece_test.cc), in a test binary without libtorch.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lvlm::spm {

enum class PieceType { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct Piece {
  std::string text;
  float score = 0;
  PieceType type = PieceType::normal;
};

class Model {
 public:
  // Parses a serialised ModelProto. InputError naming `origin` when it is not a SentencePiece
  // model or uses what this implementation does not (unigram models, normalisation rules).
  static Model parse(std::string_view bytes, const std::string& origin);

  // SentencePieceProcessor::EncodeAsIds.
  std::vector<int> encode(std::string_view text) const;
  // SentencePieceProcessor::DecodePieces.
  std::string decode(const std::vector<std::string>& pieces) const;

  int size() const { return static_cast<int>(pieces_.size()); }
  const std::string& id_to_piece(int id) const { return pieces_.at(static_cast<size_t>(id)).text; }
  PieceType type(int id) const { return pieces_.at(static_cast<size_t>(id)).type; }
  int piece_to_id(std::string_view piece) const;  // unk_id() when absent, as PieceToId
  int unk_id() const { return unk_id_; }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }
  bool add_dummy_prefix() const { return add_dummy_prefix_; }
  // HF's non-legacy LlamaTokenizer turns the dummy prefix off on a copy of the model.
  void set_add_dummy_prefix(bool on) { add_dummy_prefix_ = on; }

 private:
  std::string normalize(std::string_view text) const;
  std::vector<std::pair<std::string_view, int>> bpe(std::string_view normalized) const;
  size_t prefix_length(std::string_view text, bool* user_defined) const;

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int> normal_;    // NORMAL, USER_DEFINED, UNUSED: BPE's vocabulary
  std::unordered_map<std::string, int> reserved_;  // CONTROL, UNKNOWN, BYTE
  std::vector<std::string> user_defined_;          // matched whole, never merged
  int unk_id_ = -1, bos_id_ = 1, eos_id_ = 2, pad_id_ = -1;
  bool byte_fallback_ = false;
  bool add_dummy_prefix_ = true, remove_extra_whitespaces_ = true, escape_whitespaces_ = true;
  std::string unk_surface_ = " \xE2\x81\x87 ";
};

}  // namespace lvlm::spm
