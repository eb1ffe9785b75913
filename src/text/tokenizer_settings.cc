// Tokenizer JSON files -> TokenizerSettings, following transformers 4.40
// (tokenization_utils_base.py, PreTrainedTokenizerBase._from_pretrained):
//  - tokenizer_config.json gives the special tokens and flags;
//  - when it has `added_tokens_decoder`, that is the whole list of added tokens and
//    special_tokens_map.json / added_tokens.json are not read;
//  - otherwise ("legacy" layout) special_tokens_map.json overrides the config's special tokens and
//    added_tokens.json lists the added tokens; one is special when its text is a special token.
#include "tokenizer_settings.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"

namespace lvlm::text {
namespace {

// HF's SPECIAL_TOKENS_ATTRIBUTES order, which is also the order of all_special_tokens.
const char* const kSpecialKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                    "pad_token", "cls_token", "mask_token"};

// A special token written as "<s>" or as {"content": "<s>", "lstrip": false, ...}; null = none.
std::optional<SpecialTokenSpec> parse_special(const Json& v, const char* key, const std::string& origin) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return SpecialTokenSpec{v.get<std::string>()};
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return SpecialTokenSpec{v["content"].get<std::string>(), json_get<bool>(v, "lstrip", false, origin),
                            json_get<bool>(v, "rstrip", false, origin)};
  throw InputError(origin, std::string("key '") + key +
                               "': expected a token (a string or an object with a string 'content')");
}

std::vector<SpecialTokenSpec> parse_special_list(const Json& v, const std::string& origin) {
  std::vector<SpecialTokenSpec> out;
  if (v.is_null()) return out;
  if (!v.is_array())
    throw InputError(origin, "key 'additional_special_tokens': expected an array of tokens, found " +
                                 std::string(v.type_name()));
  for (const Json& item : v)
    if (auto t = parse_special(item, "additional_special_tokens", origin)) out.push_back(*t);
  return out;
}

// Sets the special-token attributes present in `j` (tokenizer_config.json or the special tokens map).
void apply_specials(const Json& j, const std::string& origin, TokenizerSettings& s) {
  std::optional<SpecialTokenSpec>* slots[] = {&s.bos, &s.eos, &s.unk, &s.sep, &s.pad, &s.cls, &s.mask};
  for (size_t k = 0; k < std::size(kSpecialKeys); ++k) {
    auto it = j.find(kSpecialKeys[k]);
    if (it != j.end()) *slots[k] = parse_special(*it, kSpecialKeys[k], origin);
  }
}

int parse_token_id(const std::string& key, const std::string& origin) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(key.c_str(), &end, 10);
  if (key.empty() || *end != '\0' || errno || v < 0 || v > 1'000'000'000)
    throw InputError(origin, "key 'added_tokens_decoder': '" + key + "' is not a token id");
  return static_cast<int>(v);
}

std::vector<AddedTokenSpec> parse_added_decoder(const Json& v, const std::string& origin) {
  if (!v.is_object()) throw InputError(origin, "key 'added_tokens_decoder': expected an object of id -> token");
  std::vector<AddedTokenSpec> out;
  for (const auto& [key, tok] : v.items()) {
    const std::string where = origin + ": added_tokens_decoder." + key;
    if (!tok.is_object() || !tok.contains("content") || !tok["content"].is_string())
      throw InputError(where, "expected an object with a string 'content'");
    out.push_back({tok["content"].get<std::string>(), parse_token_id(key, origin),
                   json_get<bool>(tok, "special", false, where), json_get<bool>(tok, "lstrip", false, where),
                   json_get<bool>(tok, "rstrip", false, where)});
  }
  return out;
}

// added_tokens.json: {"<image>": 510, ...}.
std::vector<AddedTokenSpec> parse_added_tokens_file(const std::string& path, const TokenizerSettings& s) {
  Json j = read_json_file(path);
  if (!j.is_object()) throw InputError(path, "expected an object of token -> id");
  std::vector<AddedTokenSpec> out;
  const auto specials = s.all_special();
  for (const auto& item : j.items()) {
    // A named copy, not a structured binding: C++17 lambdas (clang) cannot capture bindings.
    const std::string content = item.key();
    int v = json_require<int>(j, content.c_str(), path);
    if (v < 0) throw InputError(path, "key '" + content + "': negative token id " + std::to_string(v));
    bool special = std::any_of(specials.begin(), specials.end(), [&](auto& t) { return t.content == content; });
    out.push_back({content, v, special, false, false});
  }
  return out;
}

}  // namespace

std::vector<SpecialTokenSpec> TokenizerSettings::all_special() const {
  std::vector<SpecialTokenSpec> out;
  auto add = [&](const SpecialTokenSpec& t) {
    if (std::none_of(out.begin(), out.end(), [&](auto& o) { return o.content == t.content; })) out.push_back(t);
  };
  for (auto* t : {&bos, &eos, &unk, &sep, &pad, &cls, &mask})
    if (*t) add(**t);
  for (auto& t : additional_special) add(t);
  return out;
}

TokenizerSettings read_tokenizer_settings(const std::string& model_dir) {
  TokenizerSettings s;
  const std::string config_path = join_path(model_dir, "tokenizer_config.json");
  Json config = Json::object();
  if (file_exists(config_path)) {
    config = read_json_file(config_path);
    if (!config.is_object()) throw InputError(config_path, "expected a JSON object");
  }
  apply_specials(config, config_path, s);
  if (config.contains("additional_special_tokens"))
    s.additional_special = parse_special_list(config["additional_special_tokens"], config_path);
  s.add_bos_token = json_get<bool>(config, "add_bos_token", true, config_path);
  s.legacy = json_get<bool>(config, "legacy", true, config_path);
  s.add_prefix_space = json_get<bool>(config, "add_prefix_space", true, config_path);
  s.clean_up_tokenization_spaces = json_get<bool>(config, "clean_up_tokenization_spaces", false, config_path);

  if (config.contains("added_tokens_decoder")) {
    s.added = parse_added_decoder(config["added_tokens_decoder"], config_path);
    return s;
  }
  const std::string map_path = join_path(model_dir, "special_tokens_map.json");
  if (file_exists(map_path)) {
    Json map = read_json_file(map_path);
    if (!map.is_object()) throw InputError(map_path, "expected a JSON object");
    apply_specials(map, map_path, s);
    if (map.contains("additional_special_tokens"))  // merged into the config's list, not replacing it
      for (auto& t : parse_special_list(map["additional_special_tokens"], map_path))
        if (std::none_of(s.additional_special.begin(), s.additional_special.end(),
                         [&](auto& o) { return o.content == t.content; }))
          s.additional_special.push_back(t);
  }
  const std::string added_path = join_path(model_dir, "added_tokens.json");
  if (file_exists(added_path)) s.added = parse_added_tokens_file(added_path, s);
  return s;
}

}  // namespace lvlm::text
