// The per-image t-SNE on a report page (the paper's tsne.py): one point per generated token and
// layer, coloured by the detected stages or, in the paper's style, by tsne.py's fixed layer groups.
#include "html.h"

namespace lvlm::render {
namespace {

// Colours of tsne.py (the authors' list) for the paper's groups; ours for the stages.
constexpr const char* kPaperColours[] = {"#FF6347", "#3CB371", "#4682B4", "#9370DB"};

}  // namespace

std::string tsne_section(const Json& report, const Json& embedding, const Stages& stages) {
  const Json& points = child(embedding, "points");
  if (!points.is_array() || points.empty()) return "";
  const int L = report["model"]["num_layers"].get<int>();
  const bool paper = text_or(embedding, "style", "") == "paper";
  ScatterChart chart;
  chart.title = "t-SNE of every generated token\xE2\x80\x99s hidden state at every layer (this image)";
  chart.width = 760;
  chart.height = 560;
  std::vector<Band> groups;  // group index = position here
  if (paper) {
    const Json& list = child(embedding, "groups");
    for (size_t i = 0; i < list.size() && i < 4; ++i) {
      groups.push_back({text_or(list[i], "name", "?"), int_or(list[i], "first_layer", 0), int_or(list[i], "last_layer", -1)});
      chart.groups.push_back({groups.back().name, kPaperColours[i]});
    }
  } else {
    chart.groups = {{"rapid evolution", "#e69f00"}, {"stabilization", "#0072b2"}, {"mutation", "#cc3377"},
                    {"layer 0 (embedding)", "#8c8c8c"}};
    if (stages.bands.empty()) chart.groups = {{"stage undetermined", "#666666"}, {"layer 0 (embedding)", "#8c8c8c"}};
  }
  const Json& tokens = report["tokens"];
  for (const Json& p : points) {
    const auto x = number(p, "x"), y = number(p, "y");
    if (!x || !y) continue;
    const int layer = int_or(p, "layer", 0), step = int_or(p, "step", 0);
    int group = 0;
    if (paper) {
      while (group + 1 < static_cast<int>(groups.size()) && layer > groups[group].last) ++group;
    } else if (stages.bands.empty()) {
      group = layer == 0 ? 1 : 0;
    } else {
      const std::string stage = stage_of(stages.bands, layer);
      group = stage == "rapid_evolution" ? 0 : stage == "stabilization" ? 1 : stage == "mutation" ? 2 : 3;
    }
    const Json& token = step >= 0 && static_cast<size_t>(step) < tokens.size() ? tokens[static_cast<size_t>(step)] : Json();
    chart.points.push_back({*x, *y, group, "step " + std::to_string(step) + " \xE2\x80\x9C" +
                                               text_of(child(token, "piece"), "?") + "\xE2\x80\x9D \xC2\xB7 layer " +
                                               std::to_string(layer)});
  }
  const auto steps = number(embedding, "steps"), used = number(embedding, "steps_embedded");
  std::string note = "Exact t-SNE, perplexity " + value_text(child(embedding, "perplexity")) + ", " +
                     value_text(child(embedding, "iterations")) + " steps, input scaled by " +
                     escape(text_or(embedding, "scaling", "?")) + (paper ? ", layers 1\xE2\x80\x93" + std::to_string(L) +
                     " coloured by tsne.py\xE2\x80\x99s fixed groups." : ", coloured by this report\xE2\x80\x99s stages.");
  if (steps && used && *used < *steps)
    note += " The first " + fmt(*used, 10) + " of " + fmt(*steps, 10) + " tokens are embedded (exact t-SNE is quadratic).";
  return "<h2>Hidden states of this image: t-SNE</h2><p class=\"sub\">One point per generated token and layer (the "
         "paper\xE2\x80\x99s per-image figure, tsne.py). Shallow layers of all tokens tend to lie together; deep layers "
         "spread by token. Hover a point for its token and layer.</p>" + scatter_chart(chart) +
         "<p class=\"note\">" + note + "</p>";
}

}  // namespace lvlm::render
