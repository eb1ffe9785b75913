#include "lvlm_probe/json.h"

#include <cmath>
#include <cstdint>

namespace lvlm {

Json parse_json(std::string_view text, const std::string& origin, JsonLimits limits) {
  if (text.size() > limits.max_bytes)
    throw InputError(origin, "JSON of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                 std::to_string(limits.max_bytes));
  // Depth is checked by the parser callback so that a hostile file cannot recurse deeply.
  bool too_deep = false;
  auto callback = [&](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= limits.max_depth) {
      too_deep = true;
      throw std::runtime_error("nesting");
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    auto colon = what.find("] ");
    throw InputError(origin, "invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon + 2)));
  } catch (const std::exception&) {
    if (too_deep)
      throw InputError(origin, "JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
    throw InputError(origin, "invalid JSON");
  }
}

Json read_json_file(const std::string& path, JsonLimits limits) {
  return parse_json(read_file(path, limits.max_bytes), path, limits);
}

namespace {

const char* kind_name(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

template <typename T>
bool fits(const Json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_integer()) return true;
    // 2.0 is accepted as 2 (Python writes some integers as floats); 2.5 is not.
    return v.is_number_float() && std::isfinite(v.get<double>()) && std::floor(v.get<double>()) == v.get<double>() &&
           std::fabs(v.get<double>()) < 9e15;
  } else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else return true;
}

template <typename T>
const char* expected_name() {
  if constexpr (std::is_same_v<T, bool>) return "a boolean";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else return "a value";
}

template <typename T>
T convert(const Json& v, const char* key, const std::string& origin) {
  if (!fits<T>(v))
    throw InputError(origin, std::string("key '") + key + "': expected " + expected_name<T>() + ", found " +
                                 kind_name(v));
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v.is_number_float()) return static_cast<T>(v.get<double>());
    if (v.is_number_unsigned()) {
      auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        throw InputError(origin, std::string("key '") + key + "': " + std::to_string(u) + " is out of range");
      return static_cast<T>(u);
    }
    auto s = v.get<int64_t>();
    if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) || s > static_cast<int64_t>(std::numeric_limits<T>::max()))
      throw InputError(origin, std::string("key '") + key + "': " + std::to_string(s) + " is out of range");
    return static_cast<T>(s);
  } else {
    return v.get<T>();
  }
}

}  // namespace

template <typename T>
T json_get(const Json& object, const char* key, const T& fallback, const std::string& origin) {
  if (!object.is_object()) throw InputError(origin, std::string("expected an object holding '") + key + "'");
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  return convert<T>(*it, key, origin);
}

template <typename T>
T json_require(const Json& object, const char* key, const std::string& origin) {
  if (!object.is_object()) throw InputError(origin, std::string("expected an object holding '") + key + "'");
  auto it = object.find(key);
  if (it == object.end()) throw InputError(origin, std::string("missing key '") + key + "'");
  return convert<T>(*it, key, origin);
}

#define LVLM_JSON_INSTANTIATE(T)                                                  \
  template T json_get<T>(const Json&, const char*, const T&, const std::string&); \
  template T json_require<T>(const Json&, const char*, const std::string&);
LVLM_JSON_INSTANTIATE(bool)
LVLM_JSON_INSTANTIATE(int)
LVLM_JSON_INSTANTIATE(int64_t)
LVLM_JSON_INSTANTIATE(uint64_t)
LVLM_JSON_INSTANTIATE(double)
LVLM_JSON_INSTANTIATE(std::string)
#undef LVLM_JSON_INSTANTIATE

namespace {

bool is_scalar_array(const OrderedJson& v) {
  if (!v.is_array()) return false;
  for (const auto& e : v)
    if (e.is_structured()) return false;
  return true;
}

void dump_into(const OrderedJson& v, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<size_t>(indent + 1) * 2, ' ');
  if (v.is_object() && !v.empty()) {
    out += "{\n";
    size_t i = 0;
    for (auto it = v.begin(); it != v.end(); ++it, ++i) {
      out += inner + OrderedJson(it.key()).dump() + ": ";
      dump_into(it.value(), indent + 1, out);
      out += i + 1 < v.size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else if (v.is_array() && !v.empty() && !is_scalar_array(v)) {
    out += "[\n";
    for (size_t i = 0; i < v.size(); ++i) {
      out += inner;
      dump_into(v[i], indent + 1, out);
      out += i + 1 < v.size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else {
    // Scalars and arrays of scalars on one line. dump() writes NaN/Inf as null.
    out += v.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
  }
}

}  // namespace

std::string dump_json(const OrderedJson& value) {
  std::string out;
  dump_into(value, 0, out);
  out += '\n';
  return out;
}

}  // namespace lvlm
