// Reading reports back (check, aggregate, render) and the regression check. A report may come
// from another version or another person: every key used is checked before use.
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
  if (schema.get<std::string>() != kReportSchema)
    throw InputError(origin, "report schema " + schema.get<std::string>() + " is not supported (this version reads " +
                                 kReportSchema + ")");
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
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > static_cast<int64_t>(n))
      throw InputError(origin, std::string("stages.") + key + " must be a layer number");
  }
  const Json& tokens = require(report, "tokens", origin, "");
  if (!tokens.is_array()) throw InputError(origin, "tokens must be an array");
  for (size_t i = 0; i < tokens.size(); ++i)
    for (const char* key : {"p_token", "entropy", "d_prev", "d_final", "h_norm", "cos_prev", "cos_final"})
      require_layer_array(tokens[i], key, n, origin, i);
}

Json read_report(const std::string& path) {
  Json j = read_json_file(path);
  validate_report(j, path);
  return j;
}

CheckOutcome check_reports(const Json& baseline, const Json& candidate, int tolerance) {
  if (tolerance < 0) throw UsageError("--tolerance must be 0 or more layers");
  CheckOutcome out;
  auto layers = [](const Json& r) { return r["model"]["num_layers"].get<int>(); };
  if (layers(baseline) != layers(candidate)) {
    out.findings.push_back({"num_layers", "baseline has " + std::to_string(layers(baseline)) +
                                              " layers, candidate " + std::to_string(layers(candidate))});
  }
  for (const char* key : {"critical_layer", "mutation_layer"}) {
    const int a = baseline["stages"][key].get<int>(), b = candidate["stages"][key].get<int>();
    const int moved = std::abs(b - a);
    const std::string text = "moved from " + std::to_string(a) + " to " + std::to_string(b) + " (by " +
                             std::to_string(moved) + (moved > tolerance ? " > " : " <= ") + "tolerance " +
                             std::to_string(tolerance) + ")";
    if (moved > tolerance) out.findings.push_back({key, text});
    else out.notes.push_back(std::string(key) + (moved ? " " + text : " unchanged at " + std::to_string(a)));
  }
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
