// BpeTokenizer::encode, step by step as the `tokenizers` library runs a byte-level BPE:
// added tokens out of the raw text (AddedVocabulary::extract_and_normalize), NFC, the regex split
// (Split, Isolated), ByteLevel's byte -> character map, BPE merges by rank (models/bpe/word.rs),
// then TemplateProcessing's special tokens.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <queue>
#include <tuple>

#include "bpe_impl.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

// The code point at s[i] (valid UTF-8 assumed) and its length.
int32_t code_point(std::string_view s, size_t i, size_t* len) {
  utf8proc_int32_t cp = -1;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                  static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  *len = n > 0 ? static_cast<size_t>(n) : 1;
  return cp;
}

// Rust's char::is_whitespace (Unicode White_Space).
bool is_white_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_word_char(int32_t c) {  // alphanumeric or '_', for single_word added tokens
  const auto cat = utf8proc_category(c);
  return c == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

int32_t last_code_point(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<uint8_t>(s[i - 1]) & 0xC0) == 0x80) --i;
  size_t len = 0;
  return i == 0 ? -1 : code_point(s, i - 1, &len);
}

struct Segment {
  std::string_view text;
  int added_id = -1;  // >= 0: this segment is that added token
};

// Leftmost-longest matches of the added tokens with `normalized` == want_normalized, as the
// aho-corasick automaton of AddedVocabulary finds them, with single_word / lstrip / rstrip applied.
std::vector<Segment> split_added(std::string_view text, const std::vector<BpeAddedToken>& added, bool want_normalized) {
  std::vector<Segment> out;
  size_t done = 0, pos = 0;
  while (pos < text.size()) {
    const BpeAddedToken* best = nullptr;
    for (const auto& a : added)
      if (a.normalized == want_normalized && text.compare(pos, a.content.size(), a.content) == 0 &&
          (!best || a.content.size() > best->content.size()))
        best = &a;
    if (!best) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + best->content.size(), len = 0;
    if (best->single_word && ((start > 0 && is_word_char(last_code_point(text.substr(0, start)))) ||
                              (stop < text.size() && is_word_char(code_point(text, stop, &len))))) {
      ++pos;
      continue;
    }
    while (best->lstrip && start > done) {  // whitespace before the token, not taken by an earlier match
      size_t back = start - 1;
      while (back > done && (static_cast<uint8_t>(text[back]) & 0xC0) == 0x80) --back;
      if (!is_white_space(code_point(text, back, &len))) break;
      start = back;
    }
    if (best->rstrip)
      while (stop < text.size() && is_white_space(code_point(text, stop, &len))) stop += len;
    if (done < start) out.push_back({text.substr(done, start - done)});
    out.push_back({text.substr(start, stop - start), best->id});
    done = pos = stop;
  }
  if (done < text.size()) out.push_back({text.substr(done)});
  return out;
}

std::string nfc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                              static_cast<utf8proc_ssize_t>(text.size()), &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw InputError("prompt text", std::string("cannot be normalised: ") + utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

// Where `s` stops being valid UTF-8 (surrogates and overlong forms included), or npos.
size_t invalid_utf8_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                    static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) return i;
    i += static_cast<size_t>(n);
  }
  return std::string_view::npos;
}

}  // namespace

BpeRegex::BpeRegex(const std::string& pattern, const std::string& origin) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &error,
                        &offset, nullptr);
  if (!code_) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw InputError(origin, "regex does not compile at offset " + std::to_string(offset) + ": " +
                                 reinterpret_cast<const char*>(message));
  }
}

BpeRegex::~BpeRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::string_view> BpeRegex::split_isolated(std::string_view text) const {
  auto* code = static_cast<pcre2_code*>(code_);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  std::vector<std::string_view> out;
  size_t done = 0, from = 0;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (from <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw RuntimeFailure("tokenizer regex failed with PCRE2 error " + std::to_string(rc));
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(data.get());
    if (span[1] == span[0]) {  // an empty match splits nothing: move on by one character
      size_t len = 1;
      if (from < text.size()) code_point(text, from, &len);
      from += len;
      continue;
    }
    if (span[0] > done) out.push_back(text.substr(done, span[0] - done));
    out.push_back(text.substr(span[0], span[1] - span[0]));
    done = from = span[1];
  }
  if (done < text.size()) out.push_back(text.substr(done));
  return out;
}

// Merges by a queue ordered by (rank, position), as models/bpe/word.rs: O(n log n) in the word's
// length, so a long run of letters in a prompt cannot stall encoding. A queued pair is stale once
// either side has grown (sides only ever grow), which the recorded lengths detect.
std::vector<int> BpeTokenizer::Impl::bpe(std::string_view word) const {
  if (ignore_merges)
    if (auto it = vocab.find(std::string(word)); it != vocab.end()) return {it->second};
  struct Symbol {
    std::string text;
    int prev, next;
    bool alive = true;
  };
  std::vector<Symbol> symbols;  // one byte-level character each to start with
  for (size_t i = 0, len = 0; i < word.size(); i += len) {
    code_point(word, i, &len);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({std::string(word.substr(i, len)), index - 1, index + 1});
  }
  if (!symbols.empty()) symbols.back().next = -1;
  using Pair = std::tuple<int, int, size_t, size_t>;  // rank, left position, left length, right length
  std::priority_queue<Pair, std::vector<Pair>, std::greater<>> queue;
  auto push = [&](int left) {
    const int right = symbols[static_cast<size_t>(left)].next;
    if (right < 0) return;
    const auto& l = symbols[static_cast<size_t>(left)].text;
    const auto& r = symbols[static_cast<size_t>(right)].text;
    if (auto it = merge_rank.find(l + '\0' + r); it != merge_rank.end()) queue.emplace(it->second, left, l.size(), r.size());
  };
  for (int i = 0; i < static_cast<int>(symbols.size()); ++i) push(i);
  while (!queue.empty()) {
    const auto [rank, left, left_size, right_size] = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(left)];
    if (!l.alive || l.next < 0 || l.text.size() != left_size) continue;
    Symbol& r = symbols[static_cast<size_t>(l.next)];
    if (r.text.size() != right_size) continue;
    l.text += r.text;
    r.alive = false;
    l.next = r.next;
    if (l.next >= 0) symbols[static_cast<size_t>(l.next)].prev = left;
    if (l.prev >= 0) push(l.prev);
    push(left);
  }
  std::vector<int> ids;
  for (const auto& s : symbols)
    if (s.alive)
      if (auto it = vocab.find(s.text); it != vocab.end()) ids.push_back(it->second);  // no unk: dropped, as tokenizers
  return ids;
}

std::vector<int> BpeTokenizer::encode(const std::string& text, bool add_special) const {
  const Impl& m = *impl_;
  if (const size_t bad = invalid_utf8_at(text); bad != std::string_view::npos)
    throw InputError("prompt text", "not valid UTF-8 at byte " + std::to_string(bad));
  std::vector<int> ids(add_special ? m.prefix_ids : std::vector<int>{});
  auto encode_plain = [&](std::string_view piece) {
    std::string with_prefix;
    if (m.add_prefix_space && piece.substr(0, 1) != " ") piece = with_prefix = " " + std::string(piece);
    std::vector<std::string_view> words = m.split ? m.split->split_isolated(piece) : std::vector<std::string_view>{piece};
    for (std::string_view w : words) {
      std::string mapped;
      for (unsigned char b : w) mapped += m.byte_char[b];
      for (int id : m.bpe(mapped)) ids.push_back(id);
    }
  };
  for (const Segment& raw : split_added(text, m.added, false)) {
    if (raw.added_id >= 0) {
      ids.push_back(raw.added_id);
      continue;
    }
    const std::string normalized = m.nfc ? nfc(raw.text) : std::string(raw.text);
    for (const Segment& s : split_added(normalized, m.added, true))
      if (s.added_id >= 0) ids.push_back(s.added_id);
      else encode_plain(s.text);
  }
  if (add_special) ids.insert(ids.end(), m.suffix_ids.begin(), m.suffix_ids.end());
  return ids;
}

}  // namespace lvlm
