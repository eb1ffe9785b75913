// JSON in and out for every file lvlm-probe reads or writes (config.json, safetensors headers,
// reports). Parsing is bounded (size, nesting) and every failure names the file.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "lvlm_probe/common.h"

namespace lvlm {

using Json = nlohmann::json;
// Key order as written: reports are read by people, and `schema` should come first.
using OrderedJson = nlohmann::ordered_json;

struct JsonLimits {
  size_t max_bytes = 64u << 20;  // 64 MiB
  int max_depth = 64;
};

// Parses `text`; InputError "<origin>: invalid JSON at byte N: ..." on failure or when a limit
// is exceeded. `origin` is the file path (or a description) used in messages.
// Linear in the size of the text, however many members an object has.
Json parse_json(std::string_view text, const std::string& origin, JsonLimits limits = {});
// Same, dropping every top-level key not in `keep` while parsing (its value never reaches memory).
Json parse_json_keeping(std::string_view text, const std::string& origin, const std::set<std::string>& keep,
                        JsonLimits limits = {});
Json read_json_file(const std::string& path, JsonLimits limits = {});

// Typed access with messages that name the file and the key. `key` may be a dotted path for
// messages only; lookup is in `object` directly.
template <typename T>
T json_get(const Json& object, const char* key, const T& fallback, const std::string& origin);
template <typename T>
T json_require(const Json& object, const char* key, const std::string& origin);

// Serialises with 1-space indentation for arrays of objects but compact number arrays, so a
// report stays readable and small. Non-finite numbers become null (JSON has no NaN).
std::string dump_json(const OrderedJson& value);

}  // namespace lvlm
