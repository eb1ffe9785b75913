// `analyze`: stage detection re-run on a report's stored per-token divergences, without the
// model, through the functions `run` uses (detect_stages, stages_json, add_token_stages,
// summarize_values); everything that depends on the stages is rewritten, the rest kept.
#include <cmath>

#include "json_parts.h"
#include "lvlm_probe/report.h"

namespace lvlm {
namespace {

double number_or_nan(const OrderedJson& v) { return v.is_number() ? v.get<double>() : std::nan(""); }

// tokens x L: d_prev at layers 1..L (layer 0 has none).
std::vector<std::vector<double>> divergences_of(const OrderedJson& tokens, const std::string& origin) {
  std::vector<std::vector<double>> d;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const OrderedJson& row = tokens[t]["d_prev"];
    std::vector<double> values;
    for (size_t l = 1; l < row.size(); ++l) {
      if (!row[l].is_number())
        throw InputError(origin, "tokens[" + std::to_string(t) + "].d_prev[" + std::to_string(l) +
                                     "] is not a number; stage detection needs every layer's divergence");
      values.push_back(row[l].get<double>());
    }
    d.push_back(std::move(values));
  }
  return d;
}

// The token object with its stage keys replaced in place (after `piece`, as `run` writes them).
OrderedJson with_token_stages(const OrderedJson& token, const TokenStages& stages) {
  static const char* kStageKeys[] = {"critical_layer", "mutation_layer", "critical_confidence", "mutation_confidence"};
  OrderedJson out;
  bool placed = false;
  for (auto it = token.begin(); it != token.end(); ++it) {
    const bool stage_key = std::find(std::begin(kStageKeys), std::end(kStageKeys), it.key()) != std::end(kStageKeys);
    if (stage_key || (!placed && it.key() == "p_token")) {
      if (!placed) add_token_stages(out, stages), placed = true;
      if (stage_key) continue;
    }
    out[it.key()] = it.value();
  }
  if (!placed) add_token_stages(out, stages);
  return out;
}

// layers[l]: its stage, and each metric summarised over the tokens as `run` does.
void rewrite_layers(OrderedJson& report, const StageResult& stages) {
  OrderedJson& layers = report["layers"];
  const OrderedJson& tokens = report["tokens"];
  if (!layers.is_array()) layers = OrderedJson::array();
  for (int l = 0; l <= stages.num_layers; ++l) {
    if (static_cast<int>(layers.size()) <= l) layers.push_back({{"layer", l}});
    OrderedJson& layer = layers[static_cast<size_t>(l)];
    layer["stage"] = stage_of_layer(stages, l);
    for (const char* metric : kTokenMetrics) {
      std::vector<double> values;
      for (const auto& t : tokens)
        if (t.contains(metric) && t[metric].is_array() && t[metric].size() > static_cast<size_t>(l))
          values.push_back(number_or_nan(t[metric][static_cast<size_t>(l)]));
      if (layer.contains(metric) || !values.empty()) layer[metric] = value_summary_json(summarize_values(values));
    }
  }
}

}  // namespace

OrderedJson reanalyze_report(const OrderedJson& report, const StageOptions& options, const std::string& origin) {
  validate_report(Json::parse(report.dump()), origin);
  OrderedJson out = report;
  const OrderedJson& tokens = report["tokens"];
  if (tokens.empty()) throw InputError(origin, "no generated tokens: nothing to analyse");
  StageResult stages;
  try {
    stages = detect_stages(divergences_of(tokens, origin), options);
  } catch (const InputError& e) {
    throw InputError(origin, e.what());
  }
  out["schema"] = kReportSchema;
  out["settings"]["stages"] = stage_options_json(options);
  for (size_t t = 0; t < tokens.size(); ++t) out["tokens"][t] = with_token_stages(tokens[t], stages.per_token[t]);
  rewrite_layers(out, stages);
  out["stages"] = stages_json(stages);
  return out;
}

}  // namespace lvlm
