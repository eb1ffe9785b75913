// The page for a batch summary (schema lvlm-probe/summary/1, written by `aggregate`): per-layer
// statistics over all tokens of all items, where per-token boundaries fall, and the features
// across images. Every part but the schema is optional: a missing part is left out, not an error.
#include <algorithm>

#include "html.h"
#include "lvlm_probe/report.h"

namespace lvlm {
namespace render {
namespace {

// Scatter points above this are thinned (every k-th point) so the page stays light.
constexpr size_t kMaxPoints = 20000;
// Points carry a hover title only below this (a title is one more element per point).
constexpr size_t kMaxTitledPoints = 6000;

int num_layers_of(const Json& summary) {
  if (int L = int_or(child(summary, "model"), "num_layers", 0); L > 0 && L <= 10000) return L;
  const Json& layers = child(summary, "layers");
  if (layers.is_array() && layers.size() >= 2) return static_cast<int>(layers.size()) - 1;
  throw InputError("summary: model.num_layers is missing and layers[] does not tell it");
}

std::string summary_header(const Json& s, const Stages& stages) {
  const Json& model = child(s, "model");
  const Json& items = child(s, "items");
  std::string out = "<header><h1>lvlm-probe summary \xC2\xB7 " + escape(text_or(model, "path", "model")) + "</h1>";
  if (items.is_object())
    out += "<p class=\"output\">" + value_text(child(items, "total")) + " items: " + value_text(child(items, "ok")) +
           " probed, " + value_text(child(items, "failed")) + " failed</p>";
  out += stages_line(stages) + "<dl class=\"meta\">";
  if (child(s, "runs").is_array()) out += dl_row("runs", value_text(child(s, "runs")));
  out += dl_row("model", value_text(model));
  if (child(s, "settings").is_object()) out += dl_row("settings", value_text(child(s, "settings")));
  if (child(s, "tool").is_object()) out += dl_row("tool", value_text(child(s, "tool")));
  return out + "</dl></header>";
}

std::string summary_layer_lines(const Json& s, const Stages& stages, int L) {
  std::string out;
  for (const LayerQuantity& spec :
       {LayerQuantity{"d_prev", "Divergence to the previous layer (log)", "nats", true},
        LayerQuantity{"entropy", "Entropy of the lens distribution", "nats", false},
        LayerQuantity{"p_token", "Probability of the emitted token", "probability", false},
        LayerQuantity{"d_final", "Divergence to the last layer (log)", "nats", true},
        LayerQuantity{"h_norm", "Norm of the residual stream", "L2 norm", false},
        LayerQuantity{"cos_prev", "Cosine to the previous layer", "cosine", false},
        LayerQuantity{"cos_final", "Cosine to the last layer", "cosine", false}}) {
    Series series = layer_series(child(s, "layers"), spec.key, 0, L, spec.key, 0);
    if (std::none_of(series.y.begin(), series.y.end(), [](const auto& v) { return v.has_value(); })) continue;
    LineChart chart = layer_chart(spec, L);
    chart.bands = stages.bands;
    chart.marks = stage_marks(stages, false);
    series.markers = L <= 200;
    chart.series.push_back(std::move(series));
    out += line_chart(chart);
  }
  if (out.empty()) return "";
  return "<h2>Per-layer statistics over all tokens of all items</h2><p class=\"sub\">Lines: median; shaded around "
         "them: first to third quartile.</p><div class=\"charts\">" + out + "</div>";
}

std::string histograms(const Json& s, const Stages& stages, int L) {
  const Json& h = child(s, "histograms");
  BarChart chart;
  chart.title = "Per-token critical and mutation layers: how many tokens have each layer";
  chart.width = 1000;
  chart.first_layer = 0;
  chart.last_layer = L;
  chart.bands = stages.bands;
  for (const char* key : {"critical_layer", "mutation_layer"}) {
    const Json& counts = child(h, key);
    if (!counts.is_array()) continue;
    std::vector<double> values;
    for (int l = 0; l <= L; ++l) values.push_back(number(item(counts, l)).value_or(0));
    chart.series.push_back({std::string(key) == "critical_layer" ? "critical layer" : "mutation layer", values});
  }
  if (chart.series.empty()) return "";
  return "<h2>Where the per-token boundaries fall</h2>" + bar_chart(chart);
}

std::string cosine_chart(const Json& features, const Stages& stages, int L) {
  Series series;
  series.name = "mean pairwise cosine";
  for (int l = 0; l <= L; ++l) series.y.push_back(std::nullopt);
  const Json& layers = child(features, "layers");
  if (layers.is_array())
    for (const Json& entry : layers)
      if (int l = int_or(entry, "layer", -1); l >= 0 && l <= L) series.y[l] = number(entry, "mean_pairwise_cosine");
  if (std::none_of(series.y.begin(), series.y.end(), [](const auto& v) { return v.has_value(); })) return "";
  LineChart chart;
  chart.title = "Similarity of the images\xE2\x80\x99 hidden states, per layer";
  chart.y_label = "mean pairwise cosine";
  chart.width = 520;
  chart.height = 300;
  chart.first_layer = 0;
  chart.last_layer = L;
  chart.bands = stages.bands;
  chart.marks = stage_marks(stages, false);
  chart.series.push_back(std::move(series));
  return line_chart(chart);
}

std::string embedding_chart(const Json& features, const Stages& stages, std::string* note) {
  const Json& embedding = child(features, "embedding");
  const Json& points = child(embedding, "points");
  if (!points.is_array() || points.empty()) return "";
  ScatterChart chart;
  const std::string method = text_or(embedding, "method", "embedding");
  chart.title = "2-D " + std::string(method == "tsne" ? "t-SNE" : method == "pca" ? "PCA" : method) +
                " of the hidden states, one point per image and layer";
  const char* order[] = {"rapid_evolution", "stabilization", "mutation", "embedding"};
  chart.groups = {{"rapid evolution", "#e69f00"}, {"stabilization", "#0072b2"}, {"mutation", "#cc3377"},
                  {"layer 0 (embedding)", "#8c8c8c"}};
  const size_t every = (points.size() + kMaxPoints - 1) / kMaxPoints;
  for (size_t i = 0; i < points.size(); i += every) {
    const Json& p = points[i];
    const auto x = number(p, "x"), y = number(p, "y");
    if (!x || !y) continue;
    const int layer = int_or(p, "layer", 0);
    const std::string stage = stage_of(stages.bands, layer);
    const int group = static_cast<int>(std::find(order, order + 3, stage) - order);
    chart.points.push_back({*x, *y, group,
                            points.size() / every <= kMaxTitledPoints
                                ? text_of(child(p, "item"), "?") + " \xC2\xB7 layer " + std::to_string(layer) : ""});
  }
  if (every > 1)
    *note = "Every " + std::to_string(every) + "th of " + std::to_string(points.size()) + " points drawn.";
  return scatter_chart(chart);
}

std::string features_section(const Json& s, const Stages& stages, int L) {
  const Json& features = child(s, "features");
  if (!features.is_object()) return "";
  std::string note;
  const std::string charts = cosine_chart(features, stages, L) + embedding_chart(features, stages, &note);
  if (charts.empty()) return "";
  return "<h2>Features across images (step " + value_text(child(features, "step")) +
         ")</h2><p class=\"sub\">Shallow layers cluster (high similarity across images); deep layers spread.</p>"
         "<div class=\"charts\">" + charts + "</div>" + (note.empty() ? "" : "<p class=\"note\">" + escape(note) + "</p>");
}

std::string distribution_text(const Json& stats) {
  if (!stats.is_object()) return "\xE2\x80\x94";
  return "median " + value_text(child(stats, "median")) + " (quartiles " + value_text(child(stats, "q1")) + "\xE2\x80\x93" +
         value_text(child(stats, "q3")) + ", min " + value_text(child(stats, "min")) + ")";
}

// Agreement of the skipped runs with the full ones across items, and the items that agree least.
std::string skip_section(const Json& s) {
  const Json& skip = child(s, "skip");
  if (!skip.is_object()) return "";
  const auto items = number(skip, "items"), identical = number(skip, "identical");
  std::string out = "<h2>Skipped layers: agreement with the full model across items</h2><p class=\"output\">" +
                    (items && identical ? fmt(*identical, 10) + " of " + fmt(*items, 10) + " items (" +
                                              fmt(100.0 * *identical / std::max(*items, 1.0), 3) + " %) give the same output"
                                        : std::string("\xE2\x80\x94")) +
                    " with the layers skipped.</p><dl class=\"meta\">";
  out += dl_row("position agreement", distribution_text(child(skip, "position_agreement")));
  out += dl_row("token overlap (F1)", distribution_text(child(skip, "token_overlap")));
  out += dl_row("matching prefix (tokens)", distribution_text(child(skip, "matching_prefix")));
  out += "</dl>";
  const Json& per_item = child(skip, "per_item");
  if (!per_item.is_array() || per_item.empty()) return out;
  std::vector<size_t> order;
  for (size_t i = 0; i < per_item.size(); ++i) order.push_back(i);
  auto agreement = [&](size_t i) { return number(per_item[i], "position_agreement").value_or(0); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return agreement(a) < agreement(b); });
  order.resize(std::min<size_t>(order.size(), 20));
  out += "<details><summary>The " + std::to_string(order.size()) + " items that agree least</summary><div class=\"scroll\">"
         "<table class=\"data\"><thead><tr><th>run</th><th>item</th><th>skipped</th><th>identical</th><th>position "
         "agreement</th><th>token overlap</th><th>matching prefix</th></tr></thead><tbody>";
  for (size_t i : order) {
    const Json& it = per_item[i];
    out += "<tr><td>" + escape(run_name(s, child(it, "run"))) + "</td><td class=\"mono\">" +
           escape(text_of(child(it, "id"), "?")) + "</td><td>" + escape(text_of(child(it, "mode"), "")) + " " +
           value_text(child(it, "layers")) + "</td><td>" + (child(it, "identical") == true ? "yes" : "no") +
           "</td><td class=\"num\">" + value_text(child(it, "position_agreement")) + "</td><td class=\"num\">" +
           value_text(child(it, "token_overlap")) + "</td><td class=\"num\">" + value_text(child(it, "matching_prefix")) +
           "</td></tr>";
  }
  return out + "</tbody></table></div></details>";
}

}  // namespace
}  // namespace render

std::string render_summary_html(const Json& summary, const RenderOptions& /*options*/) {
  using namespace render;
  const std::string schema = text_or(summary, "schema", "(none)");
  if (!summary.is_object() || (schema != kSummarySchema && schema != kSummarySchemaV1))
    throw InputError("summary: schema is " + schema + ", this version reads " + kSummarySchema + " and " +
                     kSummarySchemaV1);
  const int L = num_layers_of(summary);
  const Stages stages = read_stages(child(summary, "stages"), L);
  std::string body = summary_header(summary, stages);
  body += "<h2>Stages at a glance</h2>" + stage_overview(child(summary, "stages"), child(summary, "layers"), stages, L);
  body += failures_section(summary);
  body += summary_layer_lines(summary, stages, L) + histograms(summary, stages, L) + skip_section(summary) +
          features_section(summary, stages, L);
  body += "<footer>Rendered by lvlm-probe from a summary. How to read these figures: docs/figures.md.</footer>";
  return html_document("lvlm-probe summary", body);
}

}  // namespace lvlm
