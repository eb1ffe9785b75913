// Helpers shared by the text module's tests: the two reference files and tokenizer directories
// built from the tiny fixture's tokenizer.model plus JSON files given by a reference variant.
#pragma once

#include <string>
#include <vector>

#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/text.h"
#include "test_util.h"

namespace lvlm::test {

// tests/data/tiny-llava/tokenization.json: transformers 4.40.2 + sentencepiece 0.1.97.
inline const Json& tokenization_refs() {
  static const Json refs = read_json_file(data_path("tiny-llava/tokenization.json"));
  return refs;
}

// tests/data/text/hf_text_refs.json: scripts/reference/make_text_refs.py.
inline const Json& text_refs() {
  static const Json refs = read_json_file(data_path("text/hf_text_refs.json"));
  return refs;
}

inline const Json& text_refs_variant(const std::string& name) {
  for (const Json& v : text_refs()["variants"])
    if (v["name"] == name) return v;
  throw std::runtime_error("no variant " + name + " in hf_text_refs.json");
}

inline const Tokenizer& fixture_tokenizer() {
  static const Tokenizer tok = Tokenizer::load(tiny_model());
  return tok;
}

// A tokenizer directory: the fixture's tokenizer.model plus `files` (file name -> JSON content).
inline std::string write_tokenizer_dir(const TempDir& dir, const Json& files) {
  write_file_atomic(dir.file("tokenizer.model"), read_file(data_path("tiny-llava/tokenizer.model")));
  for (const auto& [name, content] : files.items()) write_file_atomic(dir.file(name), content.dump(1));
  return dir.path();
}

// The fixture's files with tokenizer_config.json changed by `patch` (merged key by key).
inline Json fixture_files_with(const Json& patch) {
  Json files = text_refs_variant("fixture")["files"];
  files["tokenizer_config.json"].update(patch);
  return files;
}

inline std::vector<int> ids_of(const Json& j) { return j.get<std::vector<int>>(); }

}  // namespace lvlm::test
