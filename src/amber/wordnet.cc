// WordNet's morphy for nouns, as NLTK's WordNetLemmatizer applies it (nltk/corpus/reader/wordnet.py,
// _morphy and lemmatize): the data files are WordNet 3.0's noun.exc and index.noun.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include "lvlm_probe/amber.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

// WordNet's noun detachment rules (morph.c) plus NLTK's "ves" -> "f", in NLTK's order.
constexpr std::pair<const char*, const char*> kNounRules[] = {
    {"s", ""}, {"ses", "s"}, {"ves", "f"}, {"xes", "x"}, {"zes", "z"},
    {"ches", "ch"}, {"shes", "sh"}, {"men", "man"}, {"ies", "y"}};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> apply_rules(const std::vector<std::string>& forms) {
  std::vector<std::string> out;
  for (const std::string& form : forms)
    for (const auto& [old_suffix, new_suffix] : kNounRules)
      if (ends_with(form, old_suffix)) out.push_back(form.substr(0, form.size() - std::string(old_suffix).size()) + new_suffix);
  return out;
}

std::string underscores_as_spaces(std::string s) {
  for (char& c : s)
    if (c == '_') c = ' ';
  return s;
}

// WordNet's data files open with a licence block of lines starting with two spaces.
template <typename Each>
void for_each_entry(const std::string& path, Each each) {
  std::istringstream in(read_file(path));
  size_t entries = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == ' ') continue;
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(underscores_as_spaces(w));
    if (words.empty()) continue;
    each(words);
    ++entries;
  }
  if (entries == 0) throw InputError(path, "holds no WordNet entries");
}

}  // namespace

NounLemmatizer::NounLemmatizer(std::set<std::string> nouns, std::map<std::string, std::vector<std::string>> exceptions)
    : nouns_(std::move(nouns)), exceptions_(std::move(exceptions)) {}

NounLemmatizer NounLemmatizer::load(const std::string& dir) {
  std::set<std::string> nouns;
  std::map<std::string, std::vector<std::string>> exceptions;
  for (const char* name : {"index.noun", "noun.exc"})
    if (!std::filesystem::is_regular_file(join_path(dir, name)))
      throw InputError(join_path(dir, name), std::string("missing: WordNet's ") + name +
                                                " is needed for the lemmas (Debian package wordnet-base, or --wordnet DIR)");
  for_each_entry(join_path(dir, "index.noun"), [&](const std::vector<std::string>& w) { nouns.insert(w[0]); });
  for_each_entry(join_path(dir, "noun.exc"), [&](const std::vector<std::string>& w) {
    if (w.size() >= 2) exceptions[w[0]].assign(w.begin() + 1, w.end());
  });
  return NounLemmatizer(std::move(nouns), std::move(exceptions));
}

std::string NounLemmatizer::lemma(const std::string& word) const {
  // The forms that are WordNet nouns, in order, once each (NLTK's filter_forms).
  auto known = [this](const std::vector<std::string>& forms) {
    std::vector<std::string> out;
    for (const std::string& f : forms)
      if (nouns_.count(f) && std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    return out;
  };
  std::vector<std::string> found;
  if (auto it = exceptions_.find(word); it != exceptions_.end()) {
    std::vector<std::string> forms = {word};
    forms.insert(forms.end(), it->second.begin(), it->second.end());
    found = known(forms);
  } else {
    std::vector<std::string> forms = apply_rules({word});
    std::vector<std::string> first = {word};
    first.insert(first.end(), forms.begin(), forms.end());
    found = known(first);
    while (found.empty() && !forms.empty()) {
      forms = apply_rules(forms);
      found = known(forms);
    }
  }
  if (found.empty()) return word;
  // min(lemmas, key=len): the first of the shortest.
  return *std::min_element(found.begin(), found.end(),
                           [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
}

}  // namespace lvlm
