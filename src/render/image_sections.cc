// The report page's image figures: the logit lens on the image patches (the preprocessed image
// under its patch grid, each patch labelled with its top-1 piece and shaded by that piece's
// probability, one layer at a time through radio buttons: CSS only, no script) and the attention
// to the image per layer over the stage bands.
#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <vector>

#include "html.h"

namespace lvlm::render {
namespace {

constexpr double kMinFigureWidth = 320, kMaxFigureWidth = 1000, kMinCell = 28;
constexpr int64_t kMaxPositions = 1 << 16;  // far above any vision tower's grid (LLaVA-1.5: 577)

// Only an image data URI of base64 text goes into the page; anything else is left out.
bool safe_image_uri(const std::string& uri) {
  const std::string head = "base64,";
  if (uri.rfind("data:image/bmp;", 0) != 0 && uri.rfind("data:image/png;", 0) != 0) return false;
  const size_t at = uri.find(head);
  if (at == std::string::npos) return false;
  return std::all_of(uri.begin() + static_cast<std::ptrdiff_t>(at + head.size()), uri.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='; });
}

// The piece of `id` from the section's pieces map, as a label.
std::string piece_of(const Json& pieces, const Json& id, size_t max_chars) {
  const std::string key = id.is_number_integer() ? std::to_string(id.get<int64_t>()) : "";
  return piece_label(child(pieces, key.c_str()), id, max_chars);
}

// Hover text of one position at one layer: its top-k with probabilities and the entropy.
std::string patch_title(const Json& section, const Json& layer, size_t position, const std::string& where) {
  const Json& ids = item(child(layer, "top_ids"), position);
  const Json& probs = item(child(layer, "top_probs"), position);
  std::string out = where;
  for (size_t k = 0; k < ids.size(); ++k) {
    const auto p = number(item(probs, k));
    out += (k ? ", " : ": ") + piece_of(child(section, "pieces"), ids[k], 24) + " " + (p ? fmt(*p, 3) : "?");
  }
  const auto h = number(item(child(layer, "entropy"), position));
  return out + (h ? " \xC2\xB7 entropy " + fmt(*h, 3) + " nats" : "");
}

// Where each position's patch is drawn: its box in the original image times `scale`; empty
// boxes (patches in --pad-square's padding) are nullopt.
using Rect = std::optional<std::array<double, 4>>;
std::vector<Rect> patch_rects(const Json& boxes, size_t count, double scale) {
  std::vector<Rect> out;
  for (size_t i = 0; i < count; ++i) {
    const Json& b = item(boxes, i);
    const auto l = number(item(b, 0)), t = number(item(b, 1)), r = number(item(b, 2)), d = number(item(b, 3));
    if (l && t && r && d && *r > *l && *d > *t) out.push_back(std::array<double, 4>{*l * scale, *t * scale, *r * scale, *d * scale});
    else out.push_back(std::nullopt);
  }
  return out;
}

// One layer's labelled patches as an SVG group (hidden unless its radio button is checked).
std::string layer_group(const Json& section, const Json& layer, int l, const std::vector<Rect>& rects, bool cls,
                        int cols) {
  std::string g = "<g class=\"il-g il-g" + std::to_string(l) + "\">";
  for (size_t position = cls ? 1 : 0; position < rects.size(); ++position) {
    if (!rects[position]) continue;
    const auto& [x0, y0, x1, y1] = *rects[position];
    const int cell = static_cast<int>(position) - (cls ? 1 : 0);
    const Json& id = item(item(child(layer, "top_ids"), position), 0);
    const double p = std::clamp(number(item(item(child(layer, "top_probs"), position), 0)).value_or(0), 0.0, 1.0);
    g += "<g><title>" + patch_title(section, layer, position, "row " + std::to_string(cell / cols) + ", col " +
                                                                   std::to_string(cell % cols)) + "</title>";
    g += "<rect x=\"" + px(x0) + "\" y=\"" + px(y0) + "\" width=\"" + px(x1 - x0) + "\" height=\"" + px(y1 - y0) +
         "\" fill=\"" + viridis(p) + "\" fill-opacity=\"" + fmt(0.15 + 0.6 * p, 2) + "\" stroke=\"#fff\" stroke-opacity=\"0.4\"/>";
    g += "<text x=\"" + px((x0 + x1) / 2) + "\" y=\"" + px((y0 + y1) / 2 + 3) + "\" class=\"il-piece\" text-anchor=\"middle\">" +
         piece_of(child(section, "pieces"), id, 4) + "</text></g>";
  }
  return g + "</g>";
}

std::string layer_css(int L) {
  std::string css = "<style>.il-g{display:none}.il-piece{font:9px sans-serif;fill:#fff;paint-order:stroke;"
                    "stroke:#000;stroke-width:2px}.il-cls{display:none}";
  for (int l = 0; l <= L; ++l) {
    const std::string n = std::to_string(l);
    css += "#il-" + n + ":checked ~ .il-body .il-g" + n + "{display:inline}";
    css += "#il-" + n + ":checked ~ .il-body .il-cls" + n + "{display:block}";
  }
  return css + "</style>";
}

}  // namespace

std::string image_lens_section(const Json& report, int L) {
  const Json& section = child(report, "image_positions");
  const Json& layers = child(section, "layers");
  const Json& grid = child(section, "grid");
  const int rows = int_or(grid, "rows", 0), cols = int_or(grid, "cols", 0);
  const bool cls = child(grid, "cls_first") == true;
  if (!layers.is_array() || layers.empty()) return "";
  // A grid that does not match the positions (a damaged or hand-made report) is not drawn: its
  // size would otherwise come from the file alone.
  const int64_t count = int_or(section, "count", -1);
  if (rows < 1 || cols < 1 || count > kMaxPositions || int64_t(rows) * cols + cls != count)
    return "<h2>Logit lens on the image patches</h2><p class=\"note\">Not drawn: the report's image_positions grid (" +
           std::to_string(rows) + "\xC3\x97" + std::to_string(cols) + (cls ? " + CLS" : "") +
           ") does not match its count of " + std::to_string(count) + " positions.</p>";
  // Drawn on the original image, every cell at least kMinCell wide, the figure at least
  // kMinFigureWidth and at most kMaxFigureWidth wide.
  const Json& size = child(section, "original_size");
  const double in_w = std::max(1.0, number(item(size, 0)).value_or(1)), in_h = std::max(1.0, number(item(size, 1)).value_or(1));
  const std::vector<Rect> unit = patch_rects(child(child(section, "boxes"), "original"), static_cast<size_t>(count), 1.0);
  double narrowest = in_w;
  for (const Rect& r : unit)
    if (r) narrowest = std::min(narrowest, (*r)[2] - (*r)[0]);
  const double scale = std::min(std::max(kMinFigureWidth / in_w, kMinCell / narrowest), kMaxFigureWidth / in_w);
  const std::vector<Rect> rects = patch_rects(child(child(section, "boxes"), "original"), static_cast<size_t>(count), scale);
  const double w = in_w * scale, h = in_h * scale;
  const std::string uri = text_or(section, "image", "");

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(w) + "\" height=\"" + px(h) +
                    "\" viewBox=\"0 0 " + px(w) + " " + px(h) + "\" role=\"img\" aria-label=\"top-1 lens piece per image patch\">";
  if (safe_image_uri(uri))
    svg += "<image href=\"" + uri + "\" x=\"0\" y=\"0\" width=\"" + px(w) + "\" height=\"" + px(h) +
           "\" preserveAspectRatio=\"none\"/>";
  std::string radios, cls_lines;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Json& layer = layers[i];
    const int l = int_or(layer, "layer", static_cast<int>(i));
    const std::string n = std::to_string(l);
    radios += "<input type=\"radio\" name=\"il-layer\" id=\"il-" + n + "\"" + (l == L ? " checked=\"checked\"" : "") +
              "/><label for=\"il-" + n + "\" class=\"il-tick\">" + n + "</label>";
    svg += layer_group(section, layer, l, rects, cls, cols);
    if (cls) cls_lines += "<p class=\"sub il-cls il-cls" + n + "\">CLS" + patch_title(section, layer, 0, "") + "</p>";
  }
  svg += "</svg>";
  return "<h2>Logit lens on the image patches</h2><p class=\"sub\">The lens at every image position of the "
         "prefill (<span class=\"mono\">--positions image</span>), drawn on the original image (" + std::to_string(static_cast<int>(in_w)) +
         "\xC3\x97" + std::to_string(static_cast<int>(in_h)) + " px; a " + std::to_string(rows) + "\xC3\x97" + std::to_string(cols) +
         " patch grid over the part the vision tower saw): each patch's top-1 piece, shaded by its probability (viridis; more opaque = more "
         "likely). Pick a layer; hover a patch for its top-k and entropy.</p>" + layer_css(L) +
         "<div class=\"il\">" + radios + "<div class=\"il-body\">" + cls_lines + svg + "</div></div>";
}

std::string attention_section(const Json& report, const Stages& stages, int L) {
  const Json& layers = child(child(report, "attention"), "layers");
  if (!layers.is_array() || layers.empty()) return "";
  LineChart chart;
  chart.title = "Attention of the predicting position to the image";
  chart.y_label = "share of attention";
  chart.y_min = 0.0, chart.y_max = 1.0;
  chart.width = 1000;
  chart.first_layer = 1;
  chart.last_layer = L;
  chart.bands = stages.bands;
  chart.marks = stage_marks(stages, true);
  chart.series.push_back(layer_series(layers, "image_share", 1, L, "image share, median over tokens", 0));
  chart.legend = true;
  return "<h2>Attention to the image per layer</h2><p class=\"sub\">For every generated token, the softmax "
         "weight its predicting position puts on the image features' positions, averaged over the heads "
         "(<span class=\"mono\">--attention</span>); line: median over tokens, band: quartiles, over the stage "
         "bands. The report keeps every head and the shares on BOS, the prompt text and the generated tokens.</p>" +
         line_chart(chart);
}

}  // namespace lvlm::render
