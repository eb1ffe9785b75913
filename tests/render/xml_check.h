// A small XML well-formedness check for the rendered pages (no libxml2 dependency): one root
// element, properly nested and closed tags, quoted and unique attributes, only the five XML
// entities and numeric references, no '<' in attribute values or text, valid UTF-8 without the
// control characters XML 1.0 forbids. A leading <!DOCTYPE ...> is allowed.
#pragma once

#include <cctype>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace lvlm::test {

// How often `what` occurs in a page (overlapping occurrences counted).
inline size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class XmlCheck {
 public:
  // Empty when `doc` is well-formed, else the first problem and its byte offset.
  static std::string check(std::string_view doc) {
    XmlCheck x(doc);
    return x.run();
  }

 private:
  explicit XmlCheck(std::string_view doc) : s_(doc) {}

  std::string fail(const std::string& what) const { return what + " at byte " + std::to_string(i_); }
  bool starts(std::string_view p) const { return s_.substr(i_, p.size()) == p; }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.' ||
           static_cast<unsigned char>(c) >= 0x80;
  }

  std::string name() {
    const size_t b = i_;
    while (i_ < s_.size() && name_char(s_[i_])) ++i_;
    return std::string(s_.substr(b, i_ - b));
  }
  void spaces() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }

  // Text up to `stop`: entities must be known, '<' never appears.
  std::string text_until(char stop) {
    while (i_ < s_.size() && s_[i_] != stop) {
      if (s_[i_] == '<') return fail("'<' in text or attribute");
      if (s_[i_] == '&') {
        const size_t semi = s_.find(';', i_);
        if (semi == std::string_view::npos || semi - i_ > 12) return fail("unterminated entity");
        const std::string_view ent = s_.substr(i_ + 1, semi - i_ - 1);
        static const std::set<std::string_view> kNamed = {"amp", "lt", "gt", "quot", "apos"};
        bool ok = kNamed.count(ent) > 0;
        if (!ok && ent.size() > 1 && ent[0] == '#') {
          const bool hex = ent[1] == 'x';
          ok = ent.size() > (hex ? 2u : 1u);
          for (size_t k = hex ? 2 : 1; k < ent.size(); ++k)
            ok = ok && (hex ? std::isxdigit(static_cast<unsigned char>(ent[k])) : std::isdigit(static_cast<unsigned char>(ent[k])));
        }
        if (!ok) return fail("unknown entity &" + std::string(ent) + ";");
        i_ = semi + 1;
        continue;
      }
      ++i_;
    }
    return "";
  }

  std::string tag() {
    ++i_;  // '<'
    if (starts("!--")) {
      const size_t end = s_.find("-->", i_);
      if (end == std::string_view::npos) return fail("unterminated comment");
      i_ = end + 3;
      return "";
    }
    const bool closing = i_ < s_.size() && s_[i_] == '/';
    if (closing) ++i_;
    const std::string n = name();
    if (n.empty()) return fail("bad tag name");
    if (closing) {
      spaces();
      if (i_ >= s_.size() || s_[i_] != '>') return fail("bad closing tag </" + n);
      ++i_;
      if (open_.empty() || open_.back() != n)
        return fail("</" + n + "> closes <" + (open_.empty() ? std::string("nothing") : open_.back()) + ">");
      open_.pop_back();
      return "";
    }
    if (open_.empty() && roots_++ > 0) return fail("second root element <" + n + ">");
    std::set<std::string> attrs;
    for (;;) {
      const size_t before = i_;
      spaces();
      if (i_ >= s_.size()) return fail("unterminated tag <" + n);
      if (s_[i_] == '>') { ++i_; open_.push_back(n); return ""; }
      if (starts("/>")) { i_ += 2; return ""; }
      if (i_ == before) return fail("no space before attribute in <" + n);
      const std::string a = name();
      if (a.empty()) return fail("bad attribute in <" + n);
      if (!attrs.insert(a).second) return fail("duplicate attribute " + a + " in <" + n);
      if (i_ + 1 >= s_.size() || s_[i_] != '=' || (s_[i_ + 1] != '"' && s_[i_ + 1] != '\''))
        return fail("attribute " + a + " of <" + n + "> not quoted");
      const char quote = s_[i_ + 1];
      i_ += 2;
      if (std::string e = text_until(quote); !e.empty()) return e;
      if (i_ >= s_.size()) return fail("unterminated attribute " + a);
      ++i_;
    }
  }

  std::string characters() const {
    for (size_t k = 0; k < s_.size();) {
      const unsigned char c = s_[k];
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return "control character at byte " + std::to_string(k);
      const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (n == 0 || k + n > s_.size()) return "invalid UTF-8 at byte " + std::to_string(k);
      for (size_t j = 1; j < n; ++j)
        if ((static_cast<unsigned char>(s_[k + j]) & 0xC0) != 0x80) return "invalid UTF-8 at byte " + std::to_string(k);
      k += n;
    }
    return "";
  }

  std::string run() {
    if (std::string e = characters(); !e.empty()) return e;
    spaces();
    if (starts("<!DOCTYPE")) {
      i_ = s_.find('>', i_);
      if (i_ == std::string_view::npos) return "unterminated DOCTYPE";
      ++i_;
    }
    while (i_ < s_.size()) {
      if (s_[i_] == '<') {
        if (std::string e = tag(); !e.empty()) return e;
      } else {
        if (open_.empty() && !std::isspace(static_cast<unsigned char>(s_[i_]))) return fail("text outside the root");
        if (std::string e = text_until('<'); !e.empty()) return e;
      }
    }
    if (!open_.empty()) return fail("<" + open_.back() + "> never closed");
    if (roots_ != 1) return "no root element";
    return "";
  }

  std::string_view s_;
  size_t i_ = 0;
  std::vector<std::string> open_;
  int roots_ = 0;
};

}  // namespace lvlm::test
