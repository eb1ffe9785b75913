// Text and numbers on the page. Token pieces come straight from a tokenizer's vocabulary and may
// be "<s>", "&", quotes, newlines or byte tokens that are not valid UTF-8 on their own: every
// string from a report passes through escape() before it reaches the page.
#include <cstdio>
#include <cstdint>

#include "html.h"

namespace lvlm::render {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when it is invalid (overlong forms,
// surrogates and code points above U+10FFFF included). `cp` receives the code point.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return cp = c, 1;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Characters XML 1.0 does not allow in a document, even escaped.
bool xml_forbidden(uint32_t cp) {
  return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE || cp == 0xFFFF;
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t n = utf8_sequence(text, i, cp);
    if (n == 0 || xml_forbidden(cp)) {
      out += kReplacement;
      i += n ? n : 1;
      continue;
    }
    switch (cp) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\r': out += "&#13;"; break;
      default: out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string token_label(std::string_view piece, size_t max_chars) {
  std::string visible;
  size_t chars = 0;
  for (size_t i = 0; i < piece.size();) {
    uint32_t cp = 0;
    size_t n = utf8_sequence(piece, i, cp);
    if (max_chars && chars == max_chars) {
      visible += "\xE2\x80\xA6";  // …
      break;
    }
    if (n == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned char>(piece[i]));
      visible += hex;
      n = 1;
    } else if (cp == '\n') {
      visible += "\\n";
    } else if (cp == '\t') {
      visible += "\\t";
    } else if (cp == '\r') {
      visible += "\\r";
    } else if (cp < 0x20 || cp == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", cp);
      visible += hex;
    } else {
      visible.append(piece.substr(i, n));
    }
    i += n;
    ++chars;
  }
  return escape(visible);
}

std::string exact(double v) {
  if (!std::isfinite(v)) return "n/a";
  return Json(v).dump();  // nlohmann writes the shortest round-trip form (Grisu2)
}

std::string fmt(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string px(double v) {
  char buf[32];
  const double r = std::round(v * 10) / 10;
  if (r == std::floor(r)) std::snprintf(buf, sizeof buf, "%.0f", r);
  else std::snprintf(buf, sizeof buf, "%.1f", r);
  return std::string(buf) == "-0" ? "0" : buf;
}

std::optional<double> number(const Json& value) {
  if (!value.is_number()) return std::nullopt;
  const double v = value.get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

const Json& child(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

const Json& item(const Json& array, size_t index) {
  static const Json kNull;
  return array.is_array() && index < array.size() ? array[index] : kNull;
}

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::optional<double> number(const Json& object, const char* key) { return number(child(object, key)); }

int int_or(const Json& object, const char* key, int fallback) {
  const Json& v = child(object, key);
  if (!v.is_number_integer()) return fallback;
  const int64_t x = v.get<int64_t>();
  return x < -1000000000 || x > 1000000000 ? fallback : static_cast<int>(x);
}

std::string text_or(const Json& object, const char* key, const std::string& fallback) {
  return text_of(child(object, key), fallback);
}

std::string text_of(const Json& v, const std::string& fallback) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return fallback;
  return dump(v);
}

}  // namespace lvlm::render

namespace lvlm::render {

std::string piece_label(const Json& piece, const Json& id, size_t max_chars) {
  std::string text = text_of(piece, "");
  if (text.empty()) return id.is_number_integer() ? "id " + std::to_string(id.get<int64_t>()) : "?";
  if (text.find_first_not_of(" \t\n\r") == std::string::npos) {
    std::string visible;
    for (char ch : text) visible += ch == ' ' ? "\xE2\x90\xA3" : std::string(1, ch);  // U+2423 ␣
    text = visible;
  }
  return token_label(text, max_chars);
}

}  // namespace lvlm::render
