// Parts shared by report and summary pages: the stage line and overview chart, per-layer series.
#include <algorithm>

#include "html.h"

namespace lvlm::render {
namespace {

// layers[] entry for `layer`: by its "layer" field, else by position.
const Json& layer_entry(const Json& layers, int layer) {
  const Json& at = item(layers, static_cast<size_t>(std::max(layer, 0)));
  if (at.is_object() && int_or(at, "layer", layer) == layer) return at;
  if (layers.is_array())
    for (const Json& entry : layers)
      if (int_or(entry, "layer", -1) == layer) return entry;
  static const Json kNull;
  return kNull;
}

}  // namespace

Series layer_series(const Json& layers, const char* key, int first, int last, const std::string& name, int style) {
  Series s;
  s.name = name;
  s.style = style;
  for (int l = first; l <= last; ++l) {
    const Json& stats = child(layer_entry(layers, l), key);
    // A bare number is accepted too, for summaries that store only one value per layer.
    s.y.push_back(stats.is_number() ? number(stats) : number(stats, "median"));
    s.lo.push_back(number(stats, "q1"));
    s.hi.push_back(number(stats, "q3"));
  }
  return s;
}

LineChart layer_chart(const LayerQuantity& q, int last_layer) {
  LineChart chart;
  chart.title = q.title;
  chart.y_label = q.unit;
  chart.log_y = q.log;
  if (std::string(q.key) == "p_token") chart.y_min = 0.0, chart.y_max = 1.0;
  chart.first_layer = 0;
  chart.last_layer = last_layer;
  return chart;
}

std::string stage_overview(const Json& stages_json, const Json& layers, const Stages& stages, int num_layers) {
  LineChart chart;
  chart.title = "Divergence between adjacent layers, median over tokens (log scale)";
  chart.y_label = "d(l\xE2\x88\x92" "1, l)";
  chart.log_y = true;
  chart.width = 1000;
  chart.height = 250;
  chart.first_layer = 1;
  chart.last_layer = num_layers;
  chart.bands = stages.bands;
  chart.marks = stage_marks(stages, true);
  Series s = layer_series(layers, "d_prev", 1, num_layers, "median, band q1\xE2\x80\x93q3", 0);
  const Json& curve = child(stages_json, "aggregate_curve");
  if (curve.is_array() && static_cast<int>(curve.size()) == num_layers) {
    s.name = "the curve the stage fit used";
    for (int l = 1; l <= num_layers; ++l) s.y[l - 1] = number(curve[l - 1]);
  }
  chart.series.push_back(std::move(s));
  chart.note = !stages.critical ? "No bands: the critical layer is undetermined (no knee in this curve)."
               : !stages.mutation ? "Shaded: the stages. c: critical layer; no mutation band: no jump after the plateau above its noise."
                                  : "Shaded: the stages. c: critical layer (last of rapid evolution); m: mutation layer (the jump after the plateau).";
  if (stages.final_norm_step) chart.note += " Dotted: the hf lens's final-norm step, not a mutation.";
  return line_chart(chart);
}

namespace {

std::string confidence_text(const std::optional<double>& confidence) {
  return confidence ? " (confidence <b>" + fmt(*confidence, 2) + "</b>)" : "";
}

}  // namespace

std::string stages_line(const Stages& stages) {
  std::string out = "<p class=\"stages\"><b>Stages</b> ";
  for (const Band& b : stages.bands)
    out += "<span class=\"chip " + escape(b.name) + "\">" + escape(stage_name(b.name)) + " " +
           std::to_string(b.first) + (b.last != b.first ? "\xE2\x80\x93" + std::to_string(b.last) : "") + "</span>";
  if (stages.critical && stages.mutation && *stages.mutation == *stages.critical + 1)
    out += "<span class=\"chip\">stabilization empty</span>";
  if (stages.critical) {
    out += " critical layer <b>" + std::to_string(*stages.critical) + "</b>" + confidence_text(stages.critical_confidence);
    if (stages.critical_confidence && *stages.critical_confidence < 0.3) out += " low: treat c as undetermined";
  } else {
    out += " <span class=\"chip undetermined\">critical layer undetermined</span> no knee in the divergence curve" +
           confidence_text(stages.critical_confidence) + "; no stages drawn";
  }
  if (stages.mutation) {
    out += ", mutation layer <b>" + std::to_string(*stages.mutation) + "</b>" + confidence_text(stages.mutation_confidence);
  } else if (stages.critical) {
    out += ", <span class=\"chip undetermined\">mutation absent</span> no jump after the plateau above its noise" +
           confidence_text(stages.mutation_confidence);
  }
  if (!stages.method.empty()) out += " \xC2\xB7 method " + escape(stages.method);
  if (const auto& step = stages.final_norm_step) {
    out += "<br/><span class=\"note\">Final-norm step at layer " + std::to_string(step->layer) +
           (step->divergence ? " (divergence " + fmt(*step->divergence, 3) + ")" : "") +
           ": the hf lens applies the final norm at layer L only, so this jump is the norm, not a mutation" +
           (step->note.empty() ? "" : " \xE2\x80\x94 " + escape(step->note)) + ".</span>";
  }
  return out + "</p>";
}

std::string value_text(const Json& value) {
  if (value.is_string()) return escape(value.get<std::string>());
  if (value.is_null()) return "\xE2\x80\x94";
  if (value.is_number_float()) return escape(fmt(value.get<double>(), 6));
  if (value.is_array()) {
    std::string out;
    const size_t shown = std::min<size_t>(value.size(), 24);
    for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + value_text(value[i]);
    if (shown < value.size()) out += ", \xE2\x80\xA6 (" + std::to_string(value.size()) + " in all)";
    return "[" + out + "]";
  }
  if (value.is_object()) {
    std::string out;
    for (const auto& [k, v] : value.items()) out += (out.empty() ? "" : "; ") + escape(k) + ": " + value_text(v);
    return out;
  }
  return escape(dump(value));
}

namespace {
constexpr size_t kMaxListedItems = 500;
}  // namespace

// `runs[run]` (a name, or an object with its `dir`), or the index itself when `runs` does not list it.
std::string run_name(const Json& s, const Json& run) {
  const Json& runs = child(s, "runs");
  if (run.is_number_integer() && runs.is_array() && run.get<int64_t>() >= 0 &&
      run.get<size_t>() < runs.size()) {
    const Json& entry = runs[run.get<size_t>()];
    return text_of(entry.is_object() ? child(entry, "dir") : entry, "?");
  }
  return text_of(run, "?");
}

// Failed items with their reasons: `failed_items` [{run, id, reason}], else items.failures
// [{run, id, error}] (summaries written before failed_items existed).
std::string failures_section(const Json& s) {
  const Json& top = child(s, "failed_items");
  const Json& list = top.is_array() ? top : child(child(s, "items"), "failures");
  if (!list.is_array() || list.empty()) return "";
  std::string rows;
  for (size_t i = 0; i < list.size() && i < kMaxListedItems; ++i) {
    const Json& f = list[i];
    const Json& reason = child(f, "reason").is_null() ? child(f, "error") : child(f, "reason");
    rows += "<tr><td>" + escape(run_name(s, child(f, "run"))) + "</td><td class=\"mono\">" +
            escape(text_of(child(f, "id"), "?")) + "</td><td>" + escape(text_of(reason, "(no reason given)")) + "</td></tr>";
  }
  std::string out = "<h2>Failed items (" + std::to_string(list.size()) + ")</h2><p class=\"sub\">Not in any figure "
                    "below. Fix the cause and run the batch again with --retry-failed.</p><div class=\"scroll\">"
                    "<table class=\"data\"><thead><tr><th>run</th><th>item</th><th>reason</th></tr></thead><tbody>" +
                    rows + "</tbody></table></div>";
  if (list.size() > kMaxListedItems)
    out += "<p class=\"note\">First " + std::to_string(kMaxListedItems) + " listed; all are in the JSON.</p>";
  return out;
}

}  // namespace lvlm::render
