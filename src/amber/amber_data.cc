// AMBER's data files as published in its data/ directory: annotations.json (one entry per query id,
// in id order), relation.json (object -> associated words) and safe_words.txt (one word a line).
#include <algorithm>
#include <sstream>

#include "lvlm_probe/amber.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

std::vector<std::string> string_list(const Json& value, const std::string& path, const std::string& where) {
  if (!value.is_array()) throw InputError(path, where + ": expected an array of strings, found " + value.dump());
  std::vector<std::string> out;
  for (const Json& w : value) {
    if (!w.is_string() || w.get<std::string>().empty())
      throw InputError(path, where + ": expected non-empty strings, found " + w.dump());
    out.push_back(w.get<std::string>());
  }
  return out;
}

AmberAnnotation read_annotation(const Json& entry, const std::string& path, size_t index) {
  const std::string where = "[" + std::to_string(index) + "]";
  if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_number_integer() || !entry.contains("type") ||
      !entry["type"].is_string() || !entry.contains("truth"))
    throw InputError(path, where + ": expected an object {id (integer), type, truth[, hallu]}");
  AmberAnnotation a;
  a.id = entry["id"].get<int>();
  a.type = entry["type"].get<std::string>();
  if (a.type == "generative") {
    a.truth = string_list(entry["truth"], path, where + ".truth");
    a.hallu = entry.contains("hallu") ? string_list(entry["hallu"], path, where + ".hallu") : std::vector<std::string>{};
  } else {
    const Json& t = entry["truth"];
    if (!t.is_string() || (t != "yes" && t != "no"))
      throw InputError(path, where + ".truth: a discriminative query's truth must be \"yes\" or \"no\", found " + t.dump());
    a.answer = t.get<std::string>();
  }
  return a;
}

size_t word_count(const std::string& entry) {
  std::istringstream in(entry);
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

}  // namespace

const AmberAnnotation* AmberData::find(int id) const {
  auto it = annotations.find(id);
  return it == annotations.end() ? nullptr : &it->second;
}

AmberData load_amber(const std::string& dir) {
  if (!is_directory(dir)) throw InputError(dir, "not a directory (--amber names AMBER's data directory)");
  AmberData d;
  d.dir = dir;
  const std::string relation_path = join_path(dir, "relation.json");
  const Json relation = read_json_file(relation_path);
  if (!relation.is_object() || relation.empty())
    throw InputError(relation_path, "expected an object {object: [associated words]}");
  for (const auto& [key, words] : relation.items()) {
    d.relation[key] = string_list(words, relation_path, "'" + key + "'");
    d.vocabulary.insert(key);
    d.vocabulary.insert(d.relation[key].begin(), d.relation[key].end());
  }
  for (const std::string& w : d.vocabulary) d.max_words = std::max(d.max_words, word_count(w));

  const std::string safe_path = join_path(dir, "safe_words.txt");
  std::istringstream safe(read_file(safe_path));
  for (std::string line; std::getline(safe, line);)
    if (!line.empty()) d.safe_words.insert(line);

  const std::string annotations_path = join_path(dir, "annotations.json");
  const Json annotations = read_json_file(annotations_path);
  if (!annotations.is_array() || annotations.empty())
    throw InputError(annotations_path, "expected a non-empty array of {id, type, truth[, hallu]}");
  for (size_t i = 0; i < annotations.size(); ++i) {
    AmberAnnotation a = read_annotation(annotations[i], annotations_path, i);
    const int id = a.id;
    if (!d.annotations.emplace(id, std::move(a)).second)
      throw InputError(annotations_path, "[" + std::to_string(i) + "]: id " + std::to_string(id) + " appears twice");
  }
  return d;
}

}  // namespace lvlm
