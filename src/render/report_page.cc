// The page for one report: what was run and what came out, then the figures in the order a reader
// needs them: the stages at a glance, the heatmap, the per-layer lines, one token up close.
#include <algorithm>

#include "html.h"
#include "lvlm_probe/report.h"

namespace lvlm {
namespace render {
namespace {

constexpr size_t kMaxTokenTableRows = 2000;

std::string seconds(const Json& timing) {
  std::string out;
  for (const char* key : {"load", "vision", "prefill", "decode", "lens", "total"})
    if (auto v = number(timing, key)) out += (out.empty() ? "" : " \xC2\xB7 ") + std::string(key) + " " + fmt(*v, 3) + " s";
  return out.empty() ? "\xE2\x80\x94" : out;
}

std::string skip_text(const Json& skip) {
  if (!skip.is_object()) return "";
  const Json& a = child(skip, "agreement");
  std::string out = escape(text_or(skip, "mode", "layers")) + " " + value_text(child(skip, "layers")) +
                    ": <q>" + escape(text_or(skip, "text", "")) + "</q><br/>";
  out += "identical output: " + std::string(child(a, "identical") == true ? "yes" : "no");
  for (const char* key : {"matching_prefix", "position_agreement", "token_overlap"})
    if (auto v = number(a, key)) out += " \xC2\xB7 " + std::string(key) + " " + fmt(*v, 3);
  return out;
}

std::string report_header(const Json& r, const Stages& stages) {
  const Json& model = child(r, "model");
  const Json& input = child(r, "input");
  const Json& output = child(r, "output");
  std::string out = "<header><h1>lvlm-probe report \xC2\xB7 " + escape(text_or(model, "path", "model")) + "</h1>";
  out += "<p class=\"output\">Output: <q>" + escape(text_or(output, "text", "")) + "</q> <span class=\"sub\">(" +
         std::to_string(child(r, "tokens").size()) + " tokens, stop: " + escape(text_or(output, "stop_reason", "?")) +
         ")</span></p>";
  out += stages_line(stages);
  out += "<dl class=\"meta\">";
  out += dl_row("model", escape(text_or(model, "family", "?")) + " \xC2\xB7 " + escape(text_or(model, "architecture", "")) +
                              " \xC2\xB7 " + std::to_string(int_or(model, "num_layers", 0)) + " layers \xC2\xB7 hidden " +
                              value_text(child(model, "hidden_size")) + " \xC2\xB7 vocabulary " +
                              value_text(child(model, "vocab_size")) + " \xC2\xB7 weights " +
                              value_text(child(model, "weights_dtype")) + ", compute " + value_text(child(model, "dtype")) +
                              " on " + value_text(child(model, "device")));
  out += dl_row("image", escape(text_or(input, "image", "none")) + " <span class=\"sub mono\">sha256 " +
                              escape(text_or(input, "image_sha256", "\xE2\x80\x94")) + "</span>");
  out += dl_row("prompt", "<q>" + escape(text_or(input, "prompt", "(input ids)")) + "</q> \xC2\xB7 template " +
                              value_text(child(input, "template")) + " \xC2\xB7 " +
                              value_text(child(input, "sequence_length")) + " positions, of them " +
                              value_text(child(input, "num_image_features")) + " image features");
  out += dl_row("settings", value_text(child(r, "settings")));
  if (child(r, "skip").is_object()) out += dl_row("skipped run", skip_text(child(r, "skip")));
  out += dl_row("timing", escape(seconds(child(r, "timing"))));
  out += dl_row("tool", value_text(child(r, "tool")));
  return out + "</dl></header>";
}

std::string report_layer_lines(const Json& r, const Stages& stages, int L) {
  const Json& layers = child(r, "layers");
  std::string out = "<h2>Per-layer summary over tokens</h2><p class=\"sub\">Lines: median over the generated "
                    "tokens; shaded around them: first to third quartile. Hover a dot for its exact value.</p>"
                    "<div class=\"charts\">";
  for (const LayerQuantity& s : {LayerQuantity{"d_prev", "Divergence to the previous layer (log)", "nats", true},
                                 LayerQuantity{"entropy", "Entropy of the lens distribution", "nats", false},
                                 LayerQuantity{"p_token", "Probability of the emitted token", "probability", false},
                                 LayerQuantity{"d_final", "Divergence to the last layer (log)", "nats", true}}) {
    LineChart chart = layer_chart(s, L);
    chart.bands = stages.bands;
    chart.marks = stage_marks(stages, false);
    chart.series.push_back(layer_series(layers, s.key, 0, L, s.key, 0));
    chart.series.back().markers = L <= 200;
    out += line_chart(chart);
  }
  return out + "</div>";
}

std::string token_table(const Json& tokens, int L) {
  std::string out = "<details><summary>All " + std::to_string(tokens.size()) +
                    " generated tokens with their own stage boundaries</summary><div class=\"scroll\">"
                    "<table class=\"data\"><thead><tr><th>step</th><th>token</th><th>id</th><th>critical</th>"
                    "<th>mutation</th><th>p at layer L</th><th>d at its mutation layer</th></tr></thead><tbody>";
  // A null c or m (report/2) is undetermined or absent, not missing.
  auto layer_text = [](const Json& t, const char* key, const char* none) {
    const Json& v = child(t, key);
    return v.is_null() && t.is_object() && t.contains(key) ? std::string(none) : value_text(v);
  };
  for (size_t i = 0; i < tokens.size() && i < kMaxTokenTableRows; ++i) {
    const Json& t = tokens[i];
    const int m = int_or(t, "mutation_layer", 0);
    const auto p = number(item(child(t, "p_token"), L));
    const auto d = m > 0 ? number(item(child(t, "d_prev"), m)) : std::nullopt;
    out += "<tr><td class=\"num\">" + std::to_string(int_or(t, "step", static_cast<int>(i))) +
           "</td><td class=\"piece\">" + piece_label(child(t, "piece"), child(t, "id"), 40) + "</td><td class=\"num\">" +
           value_text(child(t, "id")) + "</td><td class=\"num\">" + layer_text(t, "critical_layer", "undetermined") +
           "</td><td class=\"num\">" + layer_text(t, "mutation_layer", "absent") + "</td><td class=\"num\" title=\"" +
           (p ? exact(*p) : "n/a") + "\">" + (p ? fmt(*p, 3) : "") + "</td><td class=\"num\" title=\"" +
           (d ? exact(*d) : "n/a") + "\">" + (d ? fmt(*d, 3) : "") + "</td></tr>";
  }
  out += "</tbody></table></div>";
  if (tokens.size() > kMaxTokenTableRows)
    out += "<p class=\"note\">First " + std::to_string(kMaxTokenTableRows) + " tokens listed.</p>";
  return out + "</details>";
}

}  // namespace
}  // namespace render

std::string render_report_html(const Json& report, const RenderOptions& options) {
  using namespace render;
  validate_report(report, "report");
  const int L = report["model"]["num_layers"].get<int>();
  const Stages stages = read_stages(report["stages"], L);
  const int focus = pick_focus(report, options.focus_step);
  const Json& tokens = report["tokens"];

  std::string body = report_header(report, stages);
  body += "<h2>Stages at a glance</h2>" + stage_overview(report["stages"], child(report, "layers"), stages, L);
  body += "<h2>Divergence and logit-lens heatmaps: tokens \xC3\x97 layers</h2><p class=\"sub\">Left: the divergence "
          "between layer l\xE2\x88\x92" "1 and layer l for one generated token (bright = the distribution changed a lot). "
          "Dashed lines: overall critical and mutation layer; white bars and red dots: each token\xE2\x80\x99s own. "
          "Right, on the same rows: the lens probability of the emitted token at every layer (bright = likely).</p>" +
          heatmap_figure(report, tokens, stages, options, HeatmapSource{});
  if (child(report, "prompt_positions").is_array())
    body += "<h2>Prompt positions \xC3\x97 layers</h2><p class=\"sub\">Every prompt position of the prefill "
            "(<span class=\"mono\">--positions all</span>): image features and the text around them. Left: divergence "
            "between adjacent layers; right: the lens probability of the next input token (grey where the next "
            "position is an image feature: no token to score).</p>" +
            heatmap_figure(report, report["prompt_positions"], stages, options,
                           HeatmapSource{"pp", "p_next", "position", true});
  body += image_lens_section(report, L);
  body += report_layer_lines(report, stages, L);
  body += attention_section(report, stages, L);
  if (!options.features.empty())
    body += tsne_section(report, token_embedding(options.features, report, options.tsne, options.tsne_max_points), stages);
  body += focus_section(report, stages, focus);
  if (!tokens.empty()) body += "<h2>Tokens</h2>" + token_table(tokens, L);
  body += "<footer>Rendered by lvlm-probe from a " + escape(text_or(report, "schema", "")) +
          " report. How to read these figures: docs/figures.md. Method: Wang et al., \xE2\x80\x9CTowards Understanding "
          "How Knowledge Evolves in Large Vision-Language Models\xE2\x80\x9D, CVPR 2025 (arXiv 2504.02862).</footer>";
  return html_document("lvlm-probe: " + text_or(child(report, "output"), "text", "report"), body);
}

}  // namespace lvlm
