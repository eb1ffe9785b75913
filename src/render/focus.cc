// One generated token up close: the paper's token-probability curves (how likely, at every
// layer, each token that wins in the deep layers is) and the top-k table per layer.
#include <algorithm>

#include "html.h"

namespace lvlm::render {
namespace {

constexpr size_t kMaxCandidates = 7;

int64_t id_of(const Json& token) {
  const Json& id = child(token, "id");
  return id.is_number_integer() ? id.get<int64_t>() : -1;
}

struct Candidate {
  int64_t id = 0;
  std::string piece;
  bool emitted = false;
};

// The emitted token first, then every token that is top-1 at some layer after the token's own
// critical layer (stabilization and mutation), in order of first appearance.
std::vector<Candidate> candidates(const Json& token, int critical, int num_layers) {
  std::vector<Candidate> out{{id_of(token), text_or(token, "piece", "?"), true}};
  const Json& topk = child(token, "topk");
  if (!topk.is_array()) return out;
  for (int l = std::max(critical + 1, 1); l <= num_layers && l < static_cast<int>(topk.size()); ++l) {
    const Json& ids = child(item(topk, l), "ids");
    if (!ids.is_array() || ids.empty() || !ids[0].is_number_integer()) continue;
    const int64_t id = ids[0].get<int64_t>();
    if (std::any_of(out.begin(), out.end(), [&](const Candidate& c) { return c.id == id; })) continue;
    const Json& pieces = child(item(topk, l), "pieces");
    out.push_back({id, pieces.is_array() && !pieces.empty() ? text_of(item(pieces, 0), "?") : "?", false});
    if (out.size() == kMaxCandidates) break;
  }
  return out;
}

// Probability of `id` at `layer` from the layer's top-k list; nullopt when it is not in it.
std::optional<double> topk_prob(const Json& token, int layer, int64_t id) {
  const Json& topk = child(token, "topk");
  if (!topk.is_array() || layer >= static_cast<int>(topk.size())) return std::nullopt;
  const Json& ids = child(item(topk, layer), "ids");
  const Json& probs = child(item(topk, layer), "probs");
  if (!ids.is_array() || !probs.is_array()) return std::nullopt;
  for (size_t k = 0; k < ids.size() && k < probs.size(); ++k)
    if (ids[k].is_number_integer() && ids[k].get<int64_t>() == id) return number(probs[k]);
  return std::nullopt;
}

std::string curves(const Json& token, const Stages& own, int num_layers) {
  LineChart chart;
  chart.title = "Probability at every layer of the tokens that win the deep layers";
  chart.y_label = "probability";
  chart.y_min = 0.0;
  chart.y_max = 1.0;
  chart.width = 900;
  chart.height = 300;
  chart.first_layer = 0;
  chart.last_layer = num_layers;
  chart.bands = own.bands;
  chart.marks = {{own.critical, "c"}, {own.mutation, "m"}};
  chart.legend = true;
  chart.note = "Gaps: the token is not among that layer\xE2\x80\x99s top-k, so its probability is below the k-th listed.";
  const auto list = candidates(token, own.critical, num_layers);
  for (size_t i = 0; i < list.size(); ++i) {
    Series s;
    s.name = "\xE2\x80\x9C" + list[i].piece + "\xE2\x80\x9D" + (list[i].emitted ? " (emitted)" : "");
    s.style = static_cast<int>(i);
    for (int l = 0; l <= num_layers; ++l)
      s.y.push_back(list[i].emitted ? number(item(child(token, "p_token"), l)) : topk_prob(token, l, list[i].id));
    chart.series.push_back(std::move(s));
  }
  return line_chart(chart);
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
         token_label(k < pieces.size() ? text_of(item(pieces, k), "?") : "?", 24) + "</span> <span class=\"p\">" +
         (p ? fmt(*p, 3) : "") + "</span></td>";
}

std::string topk_table(const Json& token, const Stages& overall, int num_layers) {
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
    const std::string stage = stage_of(overall.bands, l);
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

std::string focus_section(const Json& report, const Stages& stages, int index) {
  const Json& tokens = report["tokens"];
  if (tokens.empty()) return "";
  const Json& token = tokens[index];
  const int L = report["model"]["num_layers"].get<int>();
  Stages own;
  own.critical = int_or(token, "critical_layer", stages.critical);
  own.mutation = int_or(token, "mutation_layer", stages.mutation);
  own.bands = bands_for(own.critical, own.mutation, L);
  const std::string piece = token_label(text_or(token, "piece", "?"), 40);
  return "<h2>Token #" + std::to_string(int_or(token, "step", index)) + " \xE2\x80\x9C<span class=\"piece\">" + piece +
         "</span>\xE2\x80\x9D up close</h2><p class=\"sub\">Its own stages: " + escape(stages_text(own)) +
         ". Bands and c / m lines in this chart are this token\xE2\x80\x99s; choose another token with "
         "<span class=\"mono\">--focus STEP</span>.</p>" +
         curves(token, own, L) + "<h2>Top-k tokens per layer</h2><p class=\"sub\">Hover a cell for the token id and "
         "exact probability; the emitted token is underlined.</p>" + topk_table(token, stages, L);
}

}  // namespace lvlm::render
