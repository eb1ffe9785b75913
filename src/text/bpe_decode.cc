// BpeTokenizer::decode and token_text: tokens back to bytes through ByteLevel's character map
// (decoders/byte_level.rs), then the bytes read as UTF-8 the way Rust's String::from_utf8_lossy
// (and Python's errors="replace") does: each maximal invalid sequence becomes one U+FFFD.
#include <cstdio>

#include "bpe_impl.h"

namespace lvlm {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 character at s[i] (1-4), or 0; `*prefix` receives how many
// bytes form the start of a well-formed character (Unicode's "maximal subpart") when it is 0.
size_t utf8_char(std::string_view s, size_t i, size_t* prefix) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t c = b(0);
  *prefix = 1;
  if (c < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (no overlongs, surrogates, > U+10FFFF)
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return 0;
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) return 0;
    const uint8_t t = b(k);
    if (k == 1 ? (t < lo || t > hi) : (t & 0xC0) != 0x80) return 0;
    *prefix = k + 1;
  }
  return n;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    size_t prefix = 1;
    if (const size_t n = utf8_char(bytes, i, &prefix)) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out.append(kReplacement);
      i += prefix;
    }
  }
  return out;
}

// ByteLevel's decode of one token: through the map when every character is in it, else as is.
std::string token_bytes(const BpeTokenizer::Impl& m, const std::string& token) {
  std::string bytes;
  for (size_t i = 0; i < token.size();) {
    size_t len = 1;
    while (i + len < token.size() && (static_cast<uint8_t>(token[i + len]) & 0xC0) == 0x80) ++len;
    auto it = m.char_byte.find(token.substr(i, len));
    if (it == m.char_byte.end()) return token;
    bytes += static_cast<char>(it->second);
    i += len;
  }
  return bytes;
}

}  // namespace

void fill_byte_level_alphabet(BpeTokenizer::Impl& m) {
  auto utf8 = [](int cp) {  // code points below U+0800
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
    return s;
  };
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    m.byte_char[static_cast<size_t>(b)] = utf8(printable ? b : next++);
    m.char_byte[m.byte_char[static_cast<size_t>(b)]] = static_cast<uint8_t>(b);
  }
}

std::string BpeTokenizer::decode(const std::vector<int>& ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::string bytes;
  for (int id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= m.id_to_token.size() || (skip_special && is_special(id))) continue;
    bytes += token_bytes(m, m.id_to_token[static_cast<size_t>(id)]);
  }
  return utf8_lossy(bytes);
}

std::string BpeTokenizer::token_text(int id) const {
  const Impl& m = *impl_;
  if (id < 0 || static_cast<size_t>(id) >= m.id_to_token.size()) return "";
  const std::string bytes = token_bytes(m, m.id_to_token[static_cast<size_t>(id)]);
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    size_t prefix = 1;
    if (const size_t n = utf8_char(bytes, i, &prefix)) {
      out.append(bytes, i, n);
      i += n;
      continue;
    }
    for (size_t k = 0; k < prefix; ++k) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", static_cast<uint8_t>(bytes[i + k]));
      out += hex;
    }
    i += prefix;
  }
  return out;
}

}  // namespace lvlm
