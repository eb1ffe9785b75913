#include "sentencepiece.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <queue>

#include "lvlm_probe/common.h"

namespace lvlm::spm {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";        // U+2581, SentencePiece's space
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// --- Protocol-buffer wire format, just enough for sentencepiece_model.proto -------------------

class Reader {
 public:
  Reader(std::string_view bytes, const std::string& origin) : p_(bytes), origin_(origin) {}
  bool done() const { return p_.empty(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_.empty()) fail("truncated varint");
      const uint8_t b = static_cast<uint8_t>(p_.front());
      p_.remove_prefix(1);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint too long");
  }
  std::string_view bytes(size_t n) {
    if (n > p_.size()) fail("field runs past the end");
    std::string_view out = p_.substr(0, n);
    p_.remove_prefix(n);
    return out;
  }
  std::string_view delimited() { return bytes(static_cast<size_t>(varint())); }
  float fixed32() {
    std::string_view b = bytes(4);
    uint32_t u = uint32_t(uint8_t(b[0])) | uint32_t(uint8_t(b[1])) << 8 | uint32_t(uint8_t(b[2])) << 16 |
                 uint32_t(uint8_t(b[3])) << 24;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: bytes(8); break;
      case 2: delimited(); break;
      case 5: bytes(4); break;
      default: fail("unsupported wire type " + std::to_string(wire_type));
    }
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(origin_, "not a SentencePiece model (" + why + ")");
  }
  // Reads fields until the end, handing (field number, wire type) to `on_field`, which consumes
  // the value or returns false to have it skipped.
  void fields(const std::function<bool(int, int)>& on_field) {
    while (!done()) {
      const uint64_t tag = varint();
      const int field = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
      if (field == 0) fail("field number 0");
      if (!on_field(field, wire)) skip(wire);
    }
  }

 private:
  std::string_view p_;
  const std::string& origin_;
};

Piece parse_piece(std::string_view bytes, const std::string& origin) {
  Piece piece;
  Reader r(bytes, origin);
  r.fields([&](int field, int wire) {
    if (field == 1 && wire == 2) return piece.text = std::string(r.delimited()), true;
    if (field == 2 && wire == 5) return piece.score = r.fixed32(), true;
    if (field == 3 && wire == 0) {
      const uint64_t t = r.varint();
      if (t < 1 || t > 6) r.fail("piece type " + std::to_string(t));
      return piece.type = static_cast<PieceType>(t), true;
    }
    return false;
  });
  return piece;
}

// One UTF-8 character's length by its lead byte, as SentencePiece's OneCharLen.
size_t one_char_len(char c) { return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[(static_cast<uint8_t>(c)) >> 4]; }

// Length of a valid UTF-8 character at the start of `s`, 0 when malformed (DecodeUTF8 rules:
// no overlongs, no surrogates, nothing past U+10FFFF).
size_t valid_utf8_len(std::string_view s) {
  auto trail = [&](size_t i) { return i < s.size() && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80; };
  const uint8_t c = static_cast<uint8_t>(s[0]);
  if (c < 0x80) return 1;
  uint32_t cp;
  size_t n;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
  else return 0;
  for (size_t i = 1; i < n; ++i) {
    if (!trail(i)) return 0;
    cp = cp << 6 | (static_cast<uint8_t>(s[i]) & 0x3F);
  }
  static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  const bool valid = cp >= min_cp[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
  return valid ? n : 0;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

int byte_of_piece(const std::string& piece) {  // "<0x41>" -> 0x41, else -1
  unsigned v = 0;
  char tail = 0;
  if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%2X%c", &v, &tail) == 2 && tail == '>') return int(v);
  return -1;
}

}  // namespace

Model Model::parse(std::string_view bytes, const std::string& origin) {
  Model m;
  int model_type = 1;  // UNIGRAM, the proto default
  std::string charsmap;
  Reader r(bytes, origin);
  r.fields([&](int field, int wire) {
    if (wire != 2) return false;
    if (field == 1) return m.pieces_.push_back(parse_piece(r.delimited(), origin)), true;
    if (field == 2) {  // TrainerSpec
      Reader t(r.delimited(), origin);
      t.fields([&](int f, int w) {
        if (w == 0 && f == 3) return model_type = int(t.varint()), true;
        if (w == 0 && f == 35) return m.byte_fallback_ = t.varint() != 0, true;
        if (w == 0 && f == 40) return m.unk_id_ = int(int32_t(t.varint())), true;
        if (w == 0 && f == 41) return m.bos_id_ = int(int32_t(t.varint())), true;
        if (w == 0 && f == 42) return m.eos_id_ = int(int32_t(t.varint())), true;
        if (w == 0 && f == 43) return m.pad_id_ = int(int32_t(t.varint())), true;
        if (w == 2 && f == 44) return m.unk_surface_ = std::string(t.delimited()), true;
        if (w == 0 && f == 24) {
          if (t.varint() != 0) t.fail("treat_whitespace_as_suffix is not supported");
          return true;
        }
        return false;
      });
      return true;
    }
    if (field == 3) {  // NormalizerSpec
      Reader n(r.delimited(), origin);
      n.fields([&](int f, int w) {
        if (w == 2 && f == 2) return charsmap = std::string(n.delimited()), true;
        if (w == 0 && f == 3) return m.add_dummy_prefix_ = n.varint() != 0, true;
        if (w == 0 && f == 4) return m.remove_extra_whitespaces_ = n.varint() != 0, true;
        if (w == 0 && f == 5) return m.escape_whitespaces_ = n.varint() != 0, true;
        return false;
      });
      return true;
    }
    return false;
  });
  if (m.pieces_.empty()) r.fail("no pieces");
  if (model_type != 2)
    throw InputError(origin, "SentencePiece model type " + std::to_string(model_type) +
                                 " is not supported (LLaMA tokenizers are BPE, type 2)");
  if (!charsmap.empty())
    throw InputError(origin, "SentencePiece normalisation rules (precompiled_charsmap) are not supported");
  m.unk_id_ = -1;  // the UNKNOWN piece decides, as InitializePieces does
  for (size_t i = 0; i < m.pieces_.size(); ++i) {
    const Piece& p = m.pieces_[i];
    const int id = static_cast<int>(i);
    if (p.text.empty()) r.fail("empty piece " + std::to_string(i));
    const bool normal = p.type == PieceType::normal || p.type == PieceType::user_defined || p.type == PieceType::unused;
    if (!(normal ? m.normal_ : m.reserved_).emplace(p.text, id).second) r.fail("piece '" + p.text + "' defined twice");
    if (p.type == PieceType::user_defined) m.user_defined_.push_back(p.text);
    if (p.type == PieceType::unknown) m.unk_id_ = id;
    if (p.type == PieceType::byte && byte_of_piece(p.text) < 0) r.fail("invalid byte piece '" + p.text + "'");
  }
  if (m.unk_id_ < 0) r.fail("no unknown piece");
  return m;
}

int Model::piece_to_id(std::string_view piece) const {
  const std::string key(piece);
  if (auto it = reserved_.find(key); it != reserved_.end()) return it->second;
  if (auto it = normal_.find(key); it != normal_.end()) return it->second;
  return unk_id_;
}

// Longest user-defined symbol at the start of `text`, else one character (PrefixMatcher).
size_t Model::prefix_length(std::string_view text, bool* user_defined) const {
  size_t best = 0;
  for (const auto& s : user_defined_)
    if (s.size() > best && starts_with(text, s)) best = s.size();
  *user_defined = best > 0;
  return best ? best : std::min(text.size(), one_char_len(text[0]));
}

// Normalizer::Normalize without a rule table: malformed UTF-8 bytes become U+FFFD, spaces "▁",
// a "▁" in front (add_dummy_prefix), extra whitespace removed when the model asks for it.
std::string Model::normalize(std::string_view input) const {
  std::string out;
  if (input.empty()) return out;
  auto next = [&](std::string_view in, size_t* used) -> std::string_view {
    bool user = false;
    size_t n = prefix_length(in, &user);
    if (user) return *used = n, in.substr(0, n);
    n = valid_utf8_len(in);
    if (n == 0) return *used = 1, kReplacement;
    return *used = n, in.substr(0, n);
  };
  size_t used = 0;
  if (remove_extra_whitespaces_)
    while (!input.empty() && next(input, &used) == " ") input.remove_prefix(used);
  if (input.empty()) return out;
  const std::string_view space = escape_whitespaces_ ? kSpace : " ";
  if (add_dummy_prefix_) out += space;
  bool prev_space = remove_extra_whitespaces_;
  while (!input.empty()) {
    std::string_view piece = next(input, &used);
    while (prev_space && starts_with(piece, " ")) piece.remove_prefix(1);
    if (!piece.empty()) {
      for (char c : piece) {
        if (c == ' ' && escape_whitespaces_) out += kSpace;
        else out += c;
      }
      prev_space = piece.back() == ' ';
    }
    input.remove_prefix(used);
    if (!remove_extra_whitespaces_) prev_space = false;
  }
  if (remove_extra_whitespaces_)
    while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
      out.resize(out.size() - space.size());
  return out;
}

// bpe::Model::Encode: start from characters (user-defined symbols whole and frozen), repeatedly
// merge the adjacent pair whose concatenation is the highest-scoring piece (leftmost on ties).
std::vector<std::pair<std::string_view, int>> Model::bpe(std::string_view normalized) const {
  struct Symbol {
    int prev, next;
    bool freeze;
    std::string_view piece;
  };
  struct Pair {
    int left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Pair& a, const Pair& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
  std::vector<Symbol> symbols;
  std::unordered_map<std::string, std::pair<std::string_view, std::string_view>> rev_merge;  // unused pieces
  for (std::string_view rest = normalized; !rest.empty();) {
    Symbol s;
    const size_t n = prefix_length(rest, &s.freeze);
    s.piece = rest.substr(0, n);
    s.prev = static_cast<int>(symbols.size()) - 1;
    rest.remove_prefix(n);
    s.next = rest.empty() ? -1 : static_cast<int>(symbols.size()) + 1;
    symbols.push_back(s);
  }
  auto maybe_add = [&](int left, int right) {
    if (left < 0 || right < 0 || symbols[left].freeze || symbols[right].freeze) return;
    const std::string_view merged(symbols[left].piece.data(), symbols[left].piece.size() + symbols[right].piece.size());
    auto it = normal_.find(std::string(merged));
    if (it == normal_.end()) return;
    agenda.push({left, right, pieces_[static_cast<size_t>(it->second)].score, merged.size()});
    if (pieces_[static_cast<size_t>(it->second)].type == PieceType::unused)
      rev_merge[std::string(merged)] = {symbols[left].piece, symbols[right].piece};
  };
  for (size_t i = 1; i < symbols.size(); ++i) maybe_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& l = symbols[static_cast<size_t>(top.left)];
    Symbol& r = symbols[static_cast<size_t>(top.right)];
    if (l.piece.empty() || r.piece.empty() || l.piece.size() + r.piece.size() != top.size) continue;  // stale
    l.piece = std::string_view(l.piece.data(), l.piece.size() + r.piece.size());
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = top.left;
    r.piece = {};
    maybe_add(l.prev, top.left);
    maybe_add(top.left, l.next);
  }
  std::vector<std::pair<std::string_view, int>> out;
  std::function<void(std::string_view)> resegment = [&](std::string_view w) {
    const int id = piece_to_id(w);
    auto it = rev_merge.find(std::string(w));
    if (pieces_[static_cast<size_t>(id)].type != PieceType::unused || it == rev_merge.end()) {
      out.emplace_back(w, id);
      return;
    }
    resegment(it->second.first);
    resegment(it->second.second);
  };
  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[static_cast<size_t>(i)].next)
    resegment(symbols[static_cast<size_t>(i)].piece);
  return out;
}

std::vector<int> Model::encode(std::string_view text) const {
  const std::string normalized = normalize(text);
  std::vector<int> ids;
  bool prev_unk = false;
  for (const auto& [piece, id] : bpe(normalized)) {
    const bool unk = id == unk_id_;
    if (unk && byte_fallback_) {
      for (char c : piece) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", static_cast<uint8_t>(c));
        ids.push_back(piece_to_id(name));
      }
    } else if (!(unk && prev_unk)) {  // a run of unknown pieces is one <unk>
      ids.push_back(id);
    }
    prev_unk = unk;
  }
  return ids;
}

// SentencePieceProcessor::Decode: control pieces vanish, <unk> shows unk_surface, byte pieces
// are reassembled into UTF-8 (each malformed byte becomes U+FFFD), "▁" becomes a space, and the
// first piece loses the "▁" the dummy prefix put there.
std::string Model::decode(const std::vector<std::string>& pieces) const {
  std::string text, bytes;
  auto flush_bytes = [&] {
    for (std::string_view b = bytes; !b.empty();) {
      const size_t n = valid_utf8_len(b);
      if (n == 0) {
        text += kReplacement;
        b.remove_prefix(1);
      } else {
        text += b.substr(0, n);
        b.remove_prefix(n);
      }
    }
    bytes.clear();
  };
  bool bos_ws = true, bos_ws_seen = false;
  for (const auto& piece : pieces) {
    const int id = piece_to_id(piece);
    const PieceType type = pieces_[static_cast<size_t>(id)].type;
    if (type == PieceType::byte) {
      bytes += static_cast<char>(byte_of_piece(piece));
      continue;
    }
    flush_bytes();
    if (bos_ws_seen || !text.empty()) bos_ws = false;
    bos_ws_seen = false;
    if (type == PieceType::control) continue;
    if (type == PieceType::unknown) {
      text += piece == pieces_[static_cast<size_t>(id)].text ? unk_surface_ : piece;
      continue;
    }
    std::string_view p = piece;
    if (bos_ws && (add_dummy_prefix_ || remove_extra_whitespaces_)) {
      bos_ws_seen = starts_with(p, kSpace);
      if (bos_ws_seen) p.remove_prefix(kSpace.size());
      if (remove_extra_whitespaces_) bos_ws_seen = false;
    }
    for (size_t i = 0; i < p.size();) {
      if (starts_with(p.substr(i), kSpace)) text += ' ', i += kSpace.size();
      else text += p[i++];
    }
  }
  flush_bytes();
  return text;
}

}  // namespace lvlm::spm
