// Object words of an answer and their verdicts, following AMBER's inference.py (generative branch):
// nouns lemmatised, kept when in the vocabulary, then matched against the image's truth and
// hallucination lists with their relation.json words. The tagger and the vector similarity it
// uses are replaced as docs/amber.md describes.
#include <algorithm>
#include <cctype>
#include <set>

#include "lvlm_probe/amber.h"

namespace lvlm {
namespace {

struct Word {
  std::string text;
  size_t begin, end;
};

bool word_byte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

// Words as NLTK's word_tokenize leaves nouns: runs of letters and digits, joined by inner
// hyphens ("t-shirt"); punctuation and apostrophes ("dog's" -> "dog", "'s") separate them.
std::vector<Word> split_words(const std::string& text) {
  std::vector<Word> words;
  size_t i = 0;
  while (i < text.size()) {
    if (!word_byte(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (word_byte(text[j]) || (text[j] == '-' && j + 1 < text.size() && word_byte(text[j + 1]))))
      ++j;
    words.push_back({text.substr(i, j - i), i, j});
    i = j;
  }
  return words;
}

// The vocabulary entry of words [i, i + n): the words as written, the last one lemmatised
// ("traffic lights" -> "traffic light"); "" when not in the vocabulary.
std::string entry_at(const std::vector<Word>& words, size_t i, size_t n, const AmberData& amber,
                     const NounLemmatizer& lemmas) {
  std::string entry;
  for (size_t k = i; k + 1 < i + n; ++k) entry += words[k].text + " ";
  entry += lemmas.lemma(words[i + n - 1].text);
  return amber.vocabulary.count(entry) ? entry : "";
}

// The first entry of `list` that stands for `noun` (`exact`: equal; else related_objects).
template <typename Match>
std::optional<size_t> first_match(const std::vector<std::pair<std::string, size_t>>& list, Match match) {
  for (size_t j = 0; j < list.size(); ++j)
    if (match(list[j].first)) return list[j].second;
  return std::nullopt;
}

// inference.py's safe_words / ha_words: every listed object's relation.json words, then the
// objects themselves; each entry remembers the list entry it stands for.
std::vector<std::pair<std::string, size_t>> with_associations(const std::vector<std::string>& objects,
                                                              const AmberData& amber) {
  std::vector<std::pair<std::string, size_t>> out;
  for (size_t i = 0; i < objects.size(); ++i)
    if (auto it = amber.relation.find(objects[i]); it != amber.relation.end())
      for (const std::string& w : it->second) out.emplace_back(w, i);
  for (size_t i = 0; i < objects.size(); ++i) out.emplace_back(objects[i], i);
  return out;
}

// "can" is the one vocabulary word whose other use (the modal verb: "can be seen") is a function
// word that descriptions use all the time; NLTK's tagger tags that MD. In place of the tagger, it
// counts as the object only after a determiner or a number, or before punctuation, the end, or a
// word that follows nouns ("of", "and", "on", "is", ...). docs/amber.md, "Differences".
bool modal_can(const std::vector<Word>& words, size_t i, const std::string& text) {
  static const std::set<std::string> before = {"a", "an", "the", "this", "that", "one", "each", "every", "another",
                                               "two", "three", "some", "any", "no", "his", "her", "their", "its"};
  static const std::set<std::string> after = {"of", "and", "or", "on", "in", "at", "with", "is", "was", "sits", "stands"};
  auto lower = [](std::string w) {
    for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return w;
  };
  if (lower(words[i].text) != "can") return false;
  if (i > 0 && before.count(lower(words[i - 1].text))) return false;
  if (i + 1 == words.size()) return false;
  const std::string between = text.substr(words[i].end, words[i + 1].begin - words[i].end);
  if (between.find_first_not_of(" \t\n") != std::string::npos) return false;  // punctuation follows
  return after.count(lower(words[i + 1].text)) == 0;
}

}  // namespace

std::vector<ObjectMention> find_objects(const std::string& text, const AmberData& amber, const NounLemmatizer& lemmas) {
  const std::vector<Word> words = split_words(text);
  std::vector<ObjectMention> out;
  for (size_t i = 0; i < words.size();) {
    size_t taken = 0;
    if (modal_can(words, i, text)) {
      ++i;
      continue;
    }
    for (size_t n = std::min(amber.max_words, words.size() - i); n >= 1 && !taken; --n)
      if (std::string entry = entry_at(words, i, n, amber, lemmas); !entry.empty()) {
        std::string written = text.substr(words[i].begin, words[i + n - 1].end - words[i].begin);
        out.push_back({written, entry, words[i].begin, words[i + n - 1].end});
        taken = n;
      }
    i += taken ? taken : 1;
  }
  return out;
}

const char* verdict_name(ObjectVerdict v) {
  switch (v) {
    case ObjectVerdict::grounded: return "grounded";
    case ObjectVerdict::hallucinated: return "hallucinated";
    case ObjectVerdict::safe_word: return "safe_word";
  }
  return "?";
}

bool related_objects(const std::string& a, const std::string& b, const AmberData& amber) {
  if (a == b) return true;
  auto lists = [&](const std::string& x, const std::string& y) {
    auto it = amber.relation.find(x);
    return it != amber.relation.end() && std::find(it->second.begin(), it->second.end(), y) != it->second.end();
  };
  return lists(a, b) || lists(b, a);
}

size_t GenerativeScore::hallucinated() const {
  return static_cast<size_t>(std::count(verdicts.begin(), verdicts.end(), ObjectVerdict::hallucinated));
}

// Per object, in inference.py's order: a safe word is skipped; an exact truth match covers its
// truth entry; an exact hallu match covers its hallu entry, and so does the first related hallu
// entry; a related truth entry makes it grounded; otherwise it is hallucinated.
GenerativeScore score_generative(const std::string& answer, const AmberAnnotation& annotation, const AmberData& amber,
                                 const NounLemmatizer& lemmas) {
  GenerativeScore s;
  s.objects = find_objects(answer, amber, lemmas);
  s.truth_covered.assign(annotation.truth.size(), false);
  s.hallu_covered.assign(annotation.hallu.size(), false);
  const auto safe = with_associations(annotation.truth, amber), hallu = with_associations(annotation.hallu, amber);
  for (const ObjectMention& object : s.objects) {
    const std::string& noun = object.lemma;
    auto equal = [&](const std::string& w) { return w == noun; };
    auto related = [&](const std::string& w) { return related_objects(noun, w, amber); };
    ObjectVerdict verdict = ObjectVerdict::hallucinated;
    if (amber.safe_words.count(noun)) {
      verdict = ObjectVerdict::safe_word;
    } else if (auto t = first_match(safe, equal)) {
      s.truth_covered[*t] = true;
      verdict = ObjectVerdict::grounded;
    } else {
      if (auto h = first_match(hallu, equal)) s.hallu_covered[*h] = true;
      if (auto h = first_match(hallu, related)) s.hallu_covered[*h] = true;
      if (auto t = first_match(safe, related)) {
        s.truth_covered[*t] = true;
        verdict = ObjectVerdict::grounded;
      }
    }
    s.verdicts.push_back(verdict);
  }
  return s;
}

}  // namespace lvlm
