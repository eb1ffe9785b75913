// The page of an AMBER evaluation (schema lvlm-probe/eval/1, written by `evaluate`,
// docs/amber.md): AMBER's figures, then the generated object words that are grounded in the image
// against those that are hallucinated, layer by layer (median and quartiles of the first token's
// lens probability and divergences) and by where their tokens' stage boundaries fall.
#include "html.h"
#include "lvlm_probe/amber.h"

namespace lvlm {
namespace render {
namespace {

constexpr size_t kMaxListedWords = 500;

const char* const kGroups[] = {"grounded", "hallucinated"};

std::string percent_cell(const Json& v) {
  const auto x = number(v);
  return "<td class=\"num\">" + (x ? fmt(*x, 3) : std::string("\xE2\x80\x94")) + "</td>";
}

std::string eval_header(const Json& e) {
  const Json& items = child(e, "items");
  std::string out = "<header><h1>lvlm-probe AMBER evaluation</h1><p class=\"output\">" +
                    value_text(child(items, "ok")) + " answers evaluated (" + value_text(child(items, "generative")) +
                    " generative, " + value_text(child(items, "discriminative")) + " yes/no); failed in the batch and left out: " +
                    value_text(child(items, "failed")) + "</p><dl class=\"meta\">";
  const Json& runs = child(e, "runs");
  if (runs.is_array())
    for (size_t r = 0; r < runs.size(); ++r) out += dl_row("run " + std::to_string(r), value_text(runs[r]));
  out += dl_row("AMBER data", value_text(child(child(e, "amber"), "dir")));
  out += dl_row("model", value_text(child(e, "model")));
  if (child(e, "tool").is_object()) out += dl_row("tool", value_text(child(e, "tool")));
  return out + "</dl></header>";
}

std::string generative_table(const Json& g) {
  if (!g.is_object()) return "";
  const Json& c = child(g, "counts");
  return "<h2>Generative queries</h2><p class=\"sub\">Percentages, as AMBER's inference.py defines them "
         "(docs/amber.md). Lower CHAIR and Hal, higher Cover are better; Cog: how often the hallucination-prone "
         "objects the annotators listed were named.</p><table class=\"data\"><thead><tr><th>answers</th><th>CHAIR</th>"
         "<th>Cover</th><th>Hal</th><th>Cog</th><th>object words</th><th>hallucinated</th></tr></thead><tbody><tr>"
         "<td class=\"num\">" + value_text(child(g, "answers")) + "</td>" + percent_cell(child(g, "chair")) +
         percent_cell(child(g, "cover")) + percent_cell(child(g, "hal")) + percent_cell(child(g, "cog")) +
         "<td class=\"num\">" + value_text(child(c, "objects")) + "</td><td class=\"num\">" +
         value_text(child(c, "hallucinated")) + "</td></tr></tbody></table>";
}

std::string discriminative_table(const Json& d) {
  if (!d.is_object()) return "";
  std::string rows;
  for (const auto& [group, t] : d.items())
    rows += "<tr><td>" + escape(group) + "</td><td class=\"num\">" + value_text(child(t, "answers")) + "</td>" +
            percent_cell(child(t, "accuracy")) + percent_cell(child(t, "precision")) + percent_cell(child(t, "recall")) +
            percent_cell(child(t, "f1")) + "<td class=\"num\">" + value_text(child(t, "unparsed")) + "</td></tr>";
  return "<h2>Yes/no queries</h2><p class=\"sub\">\xE2\x80\x9CNo\xE2\x80\x9D is the positive class, as in AMBER: "
         "precision over the no answers, recall over the no truths. Answers that start with neither yes nor no "
         "count as wrong.</p><table class=\"data\"><thead><tr><th>queries</th><th>answers</th><th>accuracy</th>"
         "<th>precision</th><th>recall</th><th>F1</th><th>neither</th></tr></thead><tbody>" + rows + "</tbody></table>";
}

std::string layer_charts(const Json& groups, int L) {
  std::string out;
  for (const LayerQuantity& q :
       {LayerQuantity{"p_token", "Lens probability of the object word's first token", "probability", false},
        LayerQuantity{"d_prev", "Divergence to the previous layer (log)", "nats", true},
        LayerQuantity{"d_final", "Divergence to the last layer (log)", "nats", true}}) {
    LineChart chart = layer_chart(q, L);
    chart.legend = true;
    for (int g = 0; g < 2; ++g) {
      Series s = layer_series(child(child(groups, kGroups[g]), "layers"), q.key, 0, L, kGroups[g], g);
      s.markers = L <= 100;
      chart.series.push_back(std::move(s));
    }
    out += line_chart(chart);
  }
  return "<h2>Grounded and hallucinated object words, layer by layer</h2><p class=\"sub\">" +
         value_text(child(child(groups, "grounded"), "mentions")) + " grounded and " +
         value_text(child(child(groups, "hallucinated"), "mentions")) +
         " hallucinated object words, each by its first generated token. Lines: median; shaded: first to third "
         "quartile.</p><div class=\"charts\">" + out + "</div>";
}

std::string boundary_histograms(const Json& groups, int L) {
  std::string out;
  for (const auto& [key, missing, title] :
       {std::tuple{"critical_layer", "undetermined", "Critical layer of the word's token"},
        std::tuple{"mutation_layer", "absent", "Mutation layer of the word's token"}}) {
    BarChart chart;
    chart.title = title;
    chart.last_layer = L;
    std::string note;
    for (const char* g : kGroups) {
      const Json& h = child(child(groups, g), key);
      std::vector<double> counts;
      for (int l = 0; l <= L; ++l) counts.push_back(number(item(child(h, "histogram"), l)).value_or(0));
      chart.series.push_back({g, counts});
      note += (note.empty() ? "" : "; ") + std::string(g) + ": " + value_text(child(h, missing)) + " " + missing;
    }
    out += bar_chart(chart) + "<p class=\"note\">" + escape(note) + "</p>";
  }
  return "<h2>Where the words' stage boundaries fall</h2>" + out;
}

std::string word_table(const Json& e) {
  const Json& mentions = child(e, "mentions");
  if (!mentions.is_array() || mentions.empty()) return "";
  std::string rows;
  for (size_t i = 0; i < mentions.size() && i < kMaxListedWords; ++i) {
    const Json& m = mentions[i];
    rows += "<tr><td>" + escape(run_name(e, child(m, "run"))) + "</td><td class=\"mono\">" +
            escape(text_of(child(m, "id"), "?")) + "</td><td>" + escape(text_of(child(m, "word"), "")) + "</td><td>" +
            escape(text_of(child(m, "lemma"), "")) + "</td><td>" + escape(text_of(child(m, "group"), "")) +
            "</td><td class=\"num\">" + value_text(child(m, "step")) + "</td><td class=\"num\">" +
            text_of(child(m, "critical_layer"), "undetermined") + "</td><td class=\"num\">" +
            text_of(child(m, "mutation_layer"), "absent") + "</td></tr>";
  }
  std::string out = "<details><summary>Every object word (" + std::to_string(mentions.size()) +
                    ")</summary><div class=\"scroll\"><table class=\"data\"><thead><tr><th>run</th><th>item</th>"
                    "<th>word</th><th>object</th><th>group</th><th>step</th><th>critical</th><th>mutation</th></tr>"
                    "</thead><tbody>" + rows + "</tbody></table></div></details>";
  if (mentions.size() > kMaxListedWords)
    out += "<p class=\"note\">First " + std::to_string(kMaxListedWords) + " listed; all are in the JSON.</p>";
  return out;
}

}  // namespace
}  // namespace render

std::string render_eval_html(const Json& eval) {
  using namespace render;
  const std::string schema = text_or(eval, "schema", "(none)");
  if (!eval.is_object() || schema != kEvalSchema)
    throw InputError("evaluation: schema is " + schema + ", this version reads " + kEvalSchema);
  const int L = int_or(child(eval, "model"), "num_layers", 0);
  std::string body = eval_header(eval) + generative_table(child(eval, "generative")) +
                     discriminative_table(child(eval, "discriminative")) + failures_section(eval);
  if (L > 0 && L <= 10000) body += layer_charts(child(eval, "groups"), L) + boundary_histograms(child(eval, "groups"), L);
  body += word_table(eval);
  body += "<footer>Rendered by lvlm-probe from an AMBER evaluation. What the figures mean and how they differ from "
          "AMBER's own script: docs/amber.md.</footer>";
  return html_document("lvlm-probe AMBER evaluation", body);
}

}  // namespace lvlm
