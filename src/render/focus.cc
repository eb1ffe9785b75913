// One generated token up close: the paper's token-probability curves (how likely, at every
// layer, each token that wins in the deep layers is) and the top-k table per layer.
#include <algorithm>

#include "html.h"

namespace lvlm::render {
namespace {

constexpr size_t kMaxCurves = 8;  // the emitted token and 7 competitors: 8 distinct line styles

int64_t id_of(const Json& token) {
  const Json& id = child(token, "id");
  return id.is_number_integer() ? id.get<int64_t>() : -1;
}

struct Curve {
  int64_t id = 0;
  std::string label;                      // escaped
  std::vector<std::optional<double>> p;  // layers 0..L
  bool emitted = false;
};

// Probability of `id` at `layer` from the layer's top-k list; nullopt when it is not in it.
std::optional<double> topk_prob(const Json& token, int layer, int64_t id) {
  const Json& layer_topk = item(child(token, "topk"), static_cast<size_t>(layer));
  const Json& ids = child(layer_topk, "ids");
  const Json& probs = child(layer_topk, "probs");
  if (!ids.is_array() || !probs.is_array()) return std::nullopt;
  for (size_t k = 0; k < ids.size() && k < probs.size(); ++k)
    if (ids[k].is_number_integer() && ids[k].get<int64_t>() == id) return number(probs[k]);
  return std::nullopt;
}

std::vector<std::optional<double>> layer_values(const Json& values, int num_layers) {
  std::vector<std::optional<double>> out;
  for (int l = 0; l <= num_layers; ++l) out.push_back(number(item(values, static_cast<size_t>(l))));
  return out;
}

// Reports written before `competitors` existed: the top-1 tokens of the layers after the token's
// critical layer, from the top-k lists (gaps where a token is not among a layer's top k).
std::vector<Curve> curves_from_topk(const Json& token, int first_layer, int num_layers) {
  std::vector<Curve> out;
  const Json& topk = child(token, "topk");
  for (int l = std::max(first_layer, 0); l <= num_layers; ++l) {
    const Json& ids = child(item(topk, static_cast<size_t>(l)), "ids");
    if (!ids.is_array() || ids.empty() || !ids[0].is_number_integer()) continue;
    const int64_t id = ids[0].get<int64_t>();
    if (id == id_of(token) || std::any_of(out.begin(), out.end(), [&](const Curve& c) { return c.id == id; })) continue;
    Curve c{id, piece_label(item(child(item(topk, static_cast<size_t>(l)), "pieces"), 0), ids[0], 24), {}, false};
    for (int k = 0; k <= num_layers; ++k) c.p.push_back(topk_prob(token, k, id));
    out.push_back(std::move(c));
  }
  return out;
}

// The emitted token first, then the tokens that are top-1 at some layer (complete curves from
// `competitors`); above kMaxCurves the competitors with the highest peak are kept. `dropped`
// receives how many were left out.
std::vector<Curve> curves_of(const Json& token, const Stages& own, int num_layers, size_t* dropped, bool* complete) {
  std::vector<Curve> rivals;
  const Json& competitors = child(token, "competitors");
  *complete = competitors.is_array();
  if (*complete) {
    for (const Json& c : competitors) {
      const Json& id = child(c, "id");
      if (!id.is_number_integer() || id.get<int64_t>() == id_of(token)) continue;
      rivals.push_back({id.get<int64_t>(), piece_label(child(c, "piece"), id, 24), layer_values(child(c, "p"), num_layers), false});
    }
  } else {
    rivals = curves_from_topk(token, own.critical.value_or(0) + 1, num_layers);
  }
  auto peak = [](const Curve& c) {
    double best = 0;
    for (const auto& v : c.p) best = std::max(best, v.value_or(0));
    return best;
  };
  *dropped = rivals.size() > kMaxCurves - 1 ? rivals.size() - (kMaxCurves - 1) : 0;
  if (*dropped) {
    std::vector<size_t> order(rivals.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return peak(rivals[a]) > peak(rivals[b]); });
    order.resize(kMaxCurves - 1);
    std::sort(order.begin(), order.end());  // back to order of first appearance
    std::vector<Curve> kept;
    for (size_t i : order) kept.push_back(std::move(rivals[i]));
    rivals = std::move(kept);
  }
  std::vector<Curve> out{{id_of(token), piece_label(child(token, "piece"), child(token, "id"), 24),
                          layer_values(child(token, "p_token"), num_layers), true}};
  for (auto& c : rivals) out.push_back(std::move(c));
  return out;
}

std::string curves(const Json& token, const Stages& own, int num_layers) {
  size_t dropped = 0;
  bool complete = false;
  const std::vector<Curve> list = curves_of(token, own, num_layers, &dropped, &complete);
  std::string out;
  for (bool log : {false, true}) {
    LineChart chart;
    chart.title = log ? "The same on a log scale (the losers\xE2\x80\x99 small probabilities)"
                      : "Probability at every layer of every token that is top-1 at some layer";
    chart.y_label = "probability";
    chart.log_y = log;
    if (!log) chart.y_min = 0.0, chart.y_max = 1.0;
    chart.width = log ? 560 : 760;
    chart.height = 300;
    chart.first_layer = 0;
    chart.last_layer = num_layers;
    chart.bands = own.bands;
    chart.marks = stage_marks(own, false);
    chart.legend = !log;
    if (!log) {
      chart.note = complete ? "Complete curves (tokens[].competitors)." :
                              "Older report: curves from the top-k lists, gaps where a token is not among a layer\xE2\x80\x99s top k.";
      if (dropped) chart.note += " " + std::to_string(dropped) + " more competitors with lower peaks not drawn.";
      if (!own.critical) chart.note += " No bands: this token\xE2\x80\x99s critical layer is undetermined.";
      else if (!own.mutation) chart.note += " No mutation band: this token has no jump after its plateau.";
    }
    for (size_t i = 0; i < list.size(); ++i) {
      Series s;
      s.name = "\xE2\x80\x9C" + list[i].label + "\xE2\x80\x9D" + (list[i].emitted ? " (emitted)" : "");
      s.escaped = true;
      s.style = static_cast<int>(i);
      s.y = list[i].p;
      s.markers = !log;
      chart.series.push_back(std::move(s));
    }
    out += line_chart(chart);
  }
  return "<div class=\"charts\">" + out + "</div>";
}

std::string topk_cell(const Json& layer_topk, size_t k, int64_t emitted) {
  const Json& ids = child(layer_topk, "ids");
  const Json& pieces = child(layer_topk, "pieces");
  const Json& probs = child(layer_topk, "probs");
  if (!ids.is_array() || k >= ids.size()) return "<td></td>";
  const auto p = k < probs.size() ? number(probs[k]) : std::nullopt;
  const bool hit = ids[k].is_number_integer() && ids[k].get<int64_t>() == emitted;
  return std::string("<td") + (hit ? " class=\"hit\"" : "") + " title=\"id " + escape(dump(ids[k])) +
         " \xC2\xB7 p = " + (p ? exact(*p) : "n/a") + "\"><span class=\"piece\">" +
         piece_label(item(pieces, k), ids[k], 24) + "</span> <span class=\"p\">" +
         (p ? fmt(*p, 3) : "") + "</span></td>";
}

std::string topk_table(const Json& token, const Stages& own, int num_layers) {
  const Json& topk = child(token, "topk");
  size_t k_max = 0;
  if (topk.is_array())
    for (const Json& t : topk) k_max = std::max(k_max, child(t, "ids").is_array() ? child(t, "ids").size() : 0);
  const int64_t emitted = id_of(token);
  std::string out = "<div class=\"scroll\"><table class=\"data\"><thead><tr><th>layer</th><th>stage</th>"
                    "<th>p(emitted)</th><th>rank</th>";
  for (size_t k = 0; k < k_max; ++k) out += "<th>top " + std::to_string(k + 1) + "</th>";
  out += "</tr></thead><tbody>";
  for (int l = 0; l <= num_layers; ++l) {
    const std::string stage = stage_of(own.bands, l);
    const auto p = number(item(child(token, "p_token"), l));
    const auto rank = number(item(child(token, "rank"), l));
    out += "<tr class=\"" + stage + "\"><td class=\"num\">" + std::to_string(l) + "</td><td class=\"stage\">" +
           escape(stage_name(stage)) + "</td><td class=\"num\" title=\"" + (p ? exact(*p) : "n/a") + "\">" +
           (p ? fmt(*p, 3) : "") + "</td><td class=\"num\">" + (rank ? fmt(*rank, 10) : "") + "</td>";
    for (size_t k = 0; k < k_max; ++k)
      out += topk_cell(item(topk, l), k, emitted);
    out += "</tr>";
  }
  return out + "</tbody></table></div>";
}

}  // namespace

int pick_focus(const Json& report, int requested) {
  const Json& tokens = report["tokens"];
  const int L = report["model"]["num_layers"].get<int>();
  if (requested >= 0) {
    for (size_t i = 0; i < tokens.size(); ++i)
      if (int_or(tokens[i], "step", static_cast<int>(i)) == requested) return static_cast<int>(i);
    throw UsageError("--focus " + std::to_string(requested) + ": the report has no generated token with that step (" +
                     std::to_string(tokens.size()) + " tokens, steps from 0)");
  }
  int best = 0;
  double best_d = -1;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int m = int_or(tokens[i], "mutation_layer", 0);
    if (m < 1 || m > L) continue;
    if (auto d = number(item(child(tokens[i], "d_prev"), m)); d && *d > best_d) best = static_cast<int>(i), best_d = *d;
  }
  return best;
}

// A token's own stages: its critical and mutation layer with their confidences (null: undetermined
// / absent); the overall ones for a token that has none (a report without per-token stages).
Stages own_stages(const Json& token, const Stages& overall, int num_layers) {
  if (!child(token, "critical_layer").is_number_integer() && !(token.is_object() && token.contains("critical_layer")))
    return overall;
  Stages own = read_stages(token, num_layers);
  own.method = overall.method;
  own.final_norm_step = overall.final_norm_step;
  return own;
}

std::string focus_section(const Json& report, const Stages& stages, int index) {
  const Json& tokens = report["tokens"];
  if (tokens.empty()) return "";
  const Json& token = tokens[index];
  const int L = report["model"]["num_layers"].get<int>();
  const Stages own = own_stages(token, stages, L);
  const std::string piece = piece_label(child(token, "piece"), child(token, "id"), 40);
  return "<h2>Token #" + std::to_string(int_or(token, "step", index)) + " \xE2\x80\x9C<span class=\"piece\">" + piece +
         "</span>\xE2\x80\x9D up close</h2><p class=\"sub\">Its own stages: " + escape(stages_text(own)) +
         ". Bands and c / m lines in these charts and the stage column of the table are this token\xE2\x80\x99s; "
         "choose another token with <span class=\"mono\">--focus STEP</span>.</p>" + stages_line(own) +
         curves(token, own, L) + "<h2>Top-k tokens per layer</h2><p class=\"sub\">Hover a cell for the token id and "
         "exact probability; the emitted token is underlined.</p>" + topk_table(token, own, L);
}

}  // namespace lvlm::render
