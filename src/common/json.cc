#include "lvlm_probe/json.h"

#include <cmath>
#include <cstdint>
#include <set>

namespace lvlm {

namespace {

struct TooDeep {};

// nlohmann's DOM builder behind a depth check and an optional filter of top-level keys. (Checking
// depth with Json::parse's callback instead costs quadratic time: nlohmann's callback builder
// rescans the parent's members for discarded values each time an object or array ends, which took
// 10 s for 40,000 sibling objects.) Every event costs O(1) on top of the DOM's own insertion.
class BoundedDomBuilder {
 public:
  BoundedDomBuilder(Json& root, int max_depth, const std::set<std::string>* keep)
      : dom_(root, /*allow_exceptions=*/true), max_depth_(max_depth), keep_(keep) {}

  bool null() { return scalar() ? dom_.null() : true; }
  bool boolean(bool v) { return scalar() ? dom_.boolean(v) : true; }
  bool number_integer(Json::number_integer_t v) { return scalar() ? dom_.number_integer(v) : true; }
  bool number_unsigned(Json::number_unsigned_t v) { return scalar() ? dom_.number_unsigned(v) : true; }
  bool number_float(Json::number_float_t v, const Json::string_t& s) { return scalar() ? dom_.number_float(v, s) : true; }
  bool string(Json::string_t& v) { return scalar() ? dom_.string(v) : true; }
  bool binary(Json::binary_t& v) { return scalar() ? dom_.binary(v) : true; }
  bool start_object(std::size_t n) { return open() ? dom_.start_object(n) : true; }
  bool start_array(std::size_t n) { return open() ? dom_.start_array(n) : true; }
  bool end_object() { return close() ? dom_.end_object() : true; }
  bool end_array() { return close() ? dom_.end_array() : true; }
  bool key(Json::string_t& k) {
    if (skip_depth_ > 0) return true;
    if (!keep_ || depth_ != 1 || keep_->count(k)) return dom_.key(k);
    skip_next_ = true;
    return true;
  }
  template <typename Exception>
  bool parse_error(std::size_t at, const std::string& token, const Exception& e) {
    return dom_.parse_error(at, token, e);
  }

 private:
  // Each returns whether the event reaches the DOM (false inside a dropped top-level value).
  bool scalar() {
    if (!skip_next_) return skip_depth_ == 0;
    skip_next_ = false;
    return false;
  }
  bool open() {
    if (++depth_ > max_depth_) throw TooDeep{};
    if (skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
      return false;
    }
    if (skip_depth_ == 0) return true;
    ++skip_depth_;
    return false;
  }
  bool close() {
    --depth_;
    if (skip_depth_ == 0) return true;
    --skip_depth_;
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  int max_depth_;
  const std::set<std::string>* keep_;
  int depth_ = 0;          // containers open around the current event
  int skip_depth_ = 0;     // > 0 inside a dropped value: containers open within it
  bool skip_next_ = false; // the next value belongs to a dropped key
};

Json parse_bounded(std::string_view text, const std::string& origin, JsonLimits limits,
                   const std::set<std::string>* keep) {
  if (text.size() > limits.max_bytes)
    throw InputError(origin, "JSON of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                 std::to_string(limits.max_bytes));
  Json result;
  BoundedDomBuilder builder(result, limits.max_depth, keep);
  try {
    Json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    auto colon = what.find("] ");
    throw InputError(origin, "invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon + 2)));
  } catch (const TooDeep&) {
    throw InputError(origin, "JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
  } catch (const Json::exception&) {
    throw InputError(origin, "invalid JSON");
  }
  return result;
}

}  // namespace

Json parse_json(std::string_view text, const std::string& origin, JsonLimits limits) {
  return parse_bounded(text, origin, limits, nullptr);
}

Json parse_json_keeping(std::string_view text, const std::string& origin, const std::set<std::string>& keep,
                        JsonLimits limits) {
  return parse_bounded(text, origin, limits, &keep);
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
