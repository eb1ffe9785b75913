// Reading reports back (check, aggregate, render) and the regression check. A report may come
// from another version or another person: every key used is checked before use.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "lvlm_probe/report.h"

namespace lvlm {
namespace {

const Json& require(const Json& parent, const char* key, const std::string& origin, const char* where) {
  if (!parent.is_object() || !parent.contains(key))
    throw InputError(origin, std::string("not an lvlm-probe report: missing '") + where + key + "'");
  return parent.at(key);
}

void require_layer_array(const Json& token, const char* key, size_t n, const std::string& origin, size_t index) {
  const Json& a = require(token, key, origin, "tokens[].");
  if (!a.is_array() || a.size() != n)
    throw InputError(origin, "tokens[" + std::to_string(index) + "]." + key + " must have num_layers + 1 = " +
                                 std::to_string(n) + " entries");
  for (const auto& v : a)
    if (!v.is_number() && !v.is_null())
      throw InputError(origin, "tokens[" + std::to_string(index) + "]." + key + " holds a non-number");
}

}  // namespace

void validate_report(const Json& report, const std::string& origin) {
  if (!report.is_object()) throw InputError(origin, "not an lvlm-probe report: expected a JSON object");
  const Json& schema = require(report, "schema", origin, "");
  if (!schema.is_string() || schema.get<std::string>().rfind("lvlm-probe/report/", 0) != 0)
    throw InputError(origin, "not an lvlm-probe report: schema is " + schema.dump());
  const bool v1 = schema.get<std::string>() == kReportSchemaV1;
  if (!v1 && schema.get<std::string>() != kReportSchema)
    throw InputError(origin, "report schema " + schema.get<std::string>() + " is not supported (this version reads " +
                                 kReportSchema + " and " + kReportSchemaV1 + ")");
  const Json& layers = require(require(report, "model", origin, ""), "num_layers", origin, "model.");
  if (!layers.is_number_integer() || layers.get<int64_t>() < 1 || layers.get<int64_t>() > 10000)
    throw InputError(origin, "model.num_layers must be a positive integer");
  const size_t n = static_cast<size_t>(layers.get<int64_t>()) + 1;
  const Json& ids = require(require(report, "output", origin, ""), "token_ids", origin, "output.");
  if (!ids.is_array()) throw InputError(origin, "output.token_ids must be an array");
  for (const auto& id : ids)
    if (!id.is_number_integer()) throw InputError(origin, "output.token_ids holds a non-integer");
  const Json& stages = require(report, "stages", origin, "");
  for (const char* key : {"critical_layer", "mutation_layer"}) {
    const Json& v = require(stages, key, origin, "stages.");
    if (v.is_null() && !v1) continue;  // undetermined / absent
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > static_cast<int64_t>(n))
      throw InputError(origin, std::string("stages.") + key + (v1 ? " must be a layer number" : " must be a layer number or null"));
  }
  const Json& tokens = require(report, "tokens", origin, "");
  if (!tokens.is_array()) throw InputError(origin, "tokens must be an array");
  for (size_t i = 0; i < tokens.size(); ++i)
    for (const char* key : {"p_token", "entropy", "d_prev", "d_final", "h_norm", "cos_prev", "cos_final"})
      require_layer_array(tokens[i], key, n, origin, i);
}

namespace {

// parent[key] when parent is an object holding it, else `fallback` (an empty object by default).
const Json& object_at(const Json& parent, const char* key, const Json& fallback = Json::object()) {
  static const Json kEmpty = Json::object(), kNull;
  const Json& none = fallback.is_null() ? kNull : kEmpty;
  return parent.is_object() && parent.contains(key) ? parent[key] : none;
}

}  // namespace

StageOptions stage_options_of_report(const Json& report) {
  StageOptions o;
  const Json& stages = report.at("stages");
  auto text = [](const Json& parent, const char* key, const char* fallback) {
    return parent.is_object() && parent.contains(key) && parent[key].is_string() ? parent[key].get<std::string>()
                                                                                   : std::string(fallback);
  };
  if (text(stages, "method", "auto") == "fixed") {
    o.method = StageOptions::Method::fixed;
    const Json& c = stages["critical_layer"];
    o.critical_layer = c.is_number_integer() ? c.get<int>() : 0;
    // The window as given (settings), else as resolved (stages: a version-1 report's only record).
    const Json& settings_stages = object_at(object_at(report, "settings"), "stages");
    const Json window = report.contains("settings") ? object_at(settings_stages, "window", Json())
                                                    : object_at(stages, "mutation_window", Json());
    if (window.is_array() && window.size() == 2 && window[0].is_number_integer() && window[1].is_number_integer())
      o.window_first = window[0].get<int>(), o.window_last = window[1].get<int>();
    // c and the window came from a stage file: keep naming it, with the values it gave.
    const std::string file = text(stages, "config", "");
    if (!file.empty() && o.critical_layer > 0) {
      const Json& resolved = object_at(stages, "mutation_window", Json());
      if (resolved.is_array() && resolved.size() == 2 && resolved[0].is_number_integer())
        o.window_first = resolved[0].get<int>(), o.window_last = resolved[1].get<int>();
      StageConfig k;
      k.path = file;
      k.num_layers = report.at("model").at("num_layers").get<int>();
      k.critical_layer = o.critical_layer, k.window_first = o.window_first, k.window_last = o.window_last;
      o.config = k;
      o.critical_layer = o.window_first = o.window_last = 0;
    }
  }
  const Json& settings = object_at(report, "settings");
  o.final_norm_step = text(settings, "lens", "norm") == "hf";
  o.search_final_norm_step = text(object_at(settings, "stages"), "final_norm_step", "exclude") == "include";
  return o;
}

Json read_report(const std::string& path) {
  Json j = read_json_file(path);
  validate_report(j, path);
  return j;
}

namespace {

// The values that must agree, by the names of kComparedFields.
Json compared_value(const Json& report, const std::string& field) {
  auto at = [&](const char* section, const char* key) {
    const Json& s = report.contains(section) ? report[section] : Json();
    return s.is_object() && s.contains(key) ? s[key] : Json();
  };
  if (field == "lens") return at("settings", "lens");
  if (field == "divergence") return at("settings", "divergence");
  if (field == "prompt_ids") return at("input", "prompt_ids");
  if (field == "image_sha256") return at("input", "image_sha256");
  Json model = Json::object();
  for (const char* key : {"family", "architecture", "num_layers", "hidden_size", "vocab_size"})
    model[key] = at("model", key);
  return model;
}

std::string shortened(const Json& v) {
  const std::string text = v.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

void require_comparable(const Json& baseline, const Json& candidate, const CheckOptions& o) {
  for (const std::string& f : o.allow_different)
    if (std::find(std::begin(kComparedFields), std::end(kComparedFields), f) == std::end(kComparedFields))
      throw UsageError("--allow-different: unknown field '" + f +
                       "' (fields: lens, divergence, prompt_ids, image_sha256, model)");
  std::string differences, names;
  for (const char* field : kComparedFields) {
    const Json a = compared_value(baseline, field), b = compared_value(candidate, field);
    if (a == b || std::find(o.allow_different.begin(), o.allow_different.end(), field) != o.allow_different.end())
      continue;
    differences += std::string(differences.empty() ? "" : "; ") + field + " " + shortened(a) + " vs " + shortened(b);
    names += std::string(" --allow-different ") + field;
  }
  if (!differences.empty())
    throw UsageError("baseline and candidate are not comparable: " + differences + " (pass" + names +
                     " to compare them anyway)");
}

// One side's boundary: the layer (nullopt = undetermined / absent) and its confidence.
struct Boundary {
  std::optional<int> layer;
  double confidence = 0;
};

Boundary boundary_of(const Json& report, const std::string& key) {
  const Json& s = report["stages"];
  Boundary b;
  if (s[key].is_number_integer()) b.layer = s[key].get<int>();
  if (report["schema"] == kReportSchemaV1) return b.confidence = 1, b;  // no figure per boundary: compared
  const std::string conf = key == "critical_layer" ? "critical_confidence" : "mutation_confidence";
  b.confidence = s.contains(conf) && s[conf].is_number() ? s[conf].get<double>() : 0.0;
  return b;
}

std::string confidence_text(double c) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", c);
  return text;
}

// Compares one boundary; appends a finding (a change) or a note.
void compare_boundary(const std::string& key, const Boundary& a, const Boundary& b, const CheckOptions& o,
                      CheckOutcome& out) {
  const char* missing = key == "critical_layer" ? "undetermined" : "absent";
  auto side = [&](const Boundary& x) {
    return (x.layer ? std::to_string(*x.layer) : std::string(missing)) + " (confidence " +
           confidence_text(x.confidence) + ")";
  };
  const std::string both = "baseline " + side(a) + ", candidate " + side(b);
  const double floor = o.min_confidence;
  if (a.layer && b.layer) {
    if (a.confidence < floor || b.confidence < floor) {
      out.notes.push_back(key + " not compared: " + both + "; below --min-confidence " + confidence_text(floor));
      return;
    }
    const int moved = std::abs(*b.layer - *a.layer);
    const std::string text = "moved from " + std::to_string(*a.layer) + " to " + std::to_string(*b.layer) + " (by " +
                             std::to_string(moved) + (moved > o.tolerance ? " > " : " <= ") + "tolerance " +
                             std::to_string(o.tolerance) + ")";
    if (moved > o.tolerance) out.findings.push_back({key, text});
    else out.notes.push_back(key + (moved ? " " + text : " unchanged at " + std::to_string(*a.layer)));
  } else if (a.layer || b.layer) {
    const Boundary& determined = a.layer ? a : b;
    if (determined.confidence >= floor) out.findings.push_back({key, "changed: " + both});
    else out.notes.push_back(key + " not compared: " + both + "; below --min-confidence " + confidence_text(floor));
  } else {
    out.notes.push_back(key + " " + missing + " in both");
  }
}

}  // namespace

CheckOutcome check_reports(const Json& baseline, const Json& candidate, const CheckOptions& options) {
  if (options.tolerance < 0) throw UsageError("--tolerance must be 0 or more layers");
  if (!(options.min_confidence >= 0 && options.min_confidence <= 1))
    throw UsageError("--min-confidence must be in [0, 1]");
  require_comparable(baseline, candidate, options);
  CheckOutcome out;
  for (const char* key : {"critical_layer", "mutation_layer"})
    compare_boundary(key, boundary_of(baseline, key), boundary_of(candidate, key), options, out);
  const auto& ta = baseline["output"]["token_ids"];
  const auto& tb = candidate["output"]["token_ids"];
  if (ta != tb) {
    size_t first = 0;
    while (first < ta.size() && first < tb.size() && ta[first] == tb[first]) ++first;
    out.findings.push_back({"output tokens", "differ from step " + std::to_string(first) + " (baseline " +
                                                 std::to_string(ta.size()) + " tokens, candidate " +
                                                 std::to_string(tb.size()) + ")"});
  } else {
    out.notes.push_back("output tokens identical (" + std::to_string(ta.size()) + ")");
  }
  out.regression = !out.findings.empty();
  return out;
}

}  // namespace lvlm
