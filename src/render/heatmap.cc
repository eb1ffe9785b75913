// The paper's divergence heatmap (Wang et al. 2025, the JS-divergence figure): rows are the
// generated tokens, columns the layers 1..L, a cell is d_l = divergence(P_{l-1}, P_l) of that
// token. Three views share one set of cells: the paper's per-layer normalised view (each column
// divided by its maximum over tokens; the cells' fill attribute), the absolute view (CSS classes
// a0..a63) and a log view (l0..l63; divergences span orders of magnitude and the stage fit works
// on log d, so this view shows all three stages at once). Radio buttons switch the CSS: no script.
//
// Above max_rows tokens or max_columns layers, cells are means over equal bins: the element
// count stays below ~2 x max_rows x max_columns however long the generation was.
#include <algorithm>
#include <map>

#include "html.h"

namespace lvlm::render {
namespace {

// Equal bins over [0, total): bin i starts at floor(i * total / count).
struct Bins {
  int count = 1, total = 1;
  int start(int i) const { return static_cast<int>(static_cast<int64_t>(i) * total / count); }
  int of(int index) const {  // the bin holding index
    int i = static_cast<int>(static_cast<int64_t>(index) * count / total);
    while (i + 1 < count && start(i + 1) <= index) ++i;
    while (i > 0 && start(i) > index) --i;
    return i;
  }
};

struct Cell {
  std::optional<double> abs, norm;
};

struct Grid {
  Bins rows, cols;           // rows over tokens, columns over layers 1..L (index layer - 1)
  std::vector<Cell> cells;   // rows.count x cols.count
  double abs_max = 0, log_min = 0;  // log view: [log_min, abs_max] on a log scale
  std::vector<int> critical, mutation;  // per row bin: most frequent per-token layer, 0 = none
};

// Most frequent positive value, the smallest on ties; 0 when there is none.
int mode(const std::vector<int>& values) {
  std::map<int, int> counts;
  for (int v : values)
    if (v > 0) ++counts[v];
  int best = 0, best_count = 0;
  for (const auto& [v, n] : counts)
    if (n > best_count) best = v, best_count = n;
  return best;
}

Grid build_grid(const Json& tokens, int num_layers, const RenderOptions& o) {
  const int T = static_cast<int>(tokens.size()), L = num_layers;
  std::vector<double> col_max(L + 1, 0.0);
  for (const Json& t : tokens)
    for (int l = 1; l <= L; ++l)
      if (auto v = number(item(child(t, "d_prev"), l))) col_max[l] = std::max(col_max[l], *v);
  Grid g;
  g.rows = {std::clamp(o.max_rows, 1, std::max(T, 1)), std::max(T, 1)};
  g.cols = {std::clamp(o.max_columns, 1, L), L};
  g.cells.resize(static_cast<size_t>(g.rows.count) * g.cols.count);
  for (int r = 0; r < g.rows.count; ++r) {
    std::vector<int> cs, ms;
    for (int t = g.rows.start(r); t < g.rows.start(r + 1) && t < T; ++t) {
      cs.push_back(int_or(tokens[t], "critical_layer", 0));
      ms.push_back(int_or(tokens[t], "mutation_layer", 0));
    }
    g.critical.push_back(mode(cs));
    g.mutation.push_back(mode(ms));
    for (int c = 0; c < g.cols.count; ++c) {
      double sum = 0, sum_norm = 0;
      int n = 0;
      for (int t = g.rows.start(r); t < g.rows.start(r + 1) && t < T; ++t)
        for (int l = g.cols.start(c) + 1; l <= g.cols.start(c + 1); ++l)
          if (auto v = number(item(child(tokens[t], "d_prev"), l))) sum += *v, sum_norm += col_max[l] > 0 ? *v / col_max[l] : 0, ++n;
      Cell& cell = g.cells[static_cast<size_t>(r) * g.cols.count + c];
      if (n == 0) continue;
      cell.abs = sum / n;
      cell.norm = sum_norm / n;
      g.abs_max = std::max(g.abs_max, *cell.abs);
    }
  }
  double min_pos = g.abs_max;
  for (const Cell& cell : g.cells)
    if (cell.abs && *cell.abs > 0) min_pos = std::min(min_pos, *cell.abs);
  g.log_min = std::max(min_pos, g.abs_max * 1e-6);  // zeros (skipped blocks) sit at the bottom
  return g;
}

std::string range_text(const char* one, int a, int b) {
  return a == b ? std::string(one) + " " + std::to_string(a)
                : std::string(one) + "s " + std::to_string(a) + "\xE2\x80\x93" + std::to_string(b);
}

// Layout of the SVG, in pixels.
struct Layout {
  int label_w = 190, top = 52, cw = 0, rh = 0, grid_w = 0, grid_h = 0, width = 0, height = 0;
};

Layout layout(const Grid& g) {
  Layout y;
  y.cw = std::clamp(920 / g.cols.count, 4, 36);
  y.rh = std::clamp(760 / g.rows.count, 2, 20);
  y.grid_w = y.cw * g.cols.count;
  y.grid_h = y.rh * g.rows.count;
  y.width = std::max(y.label_w + y.grid_w + 24, 900);  // at least the legend's width
  y.height = y.top + y.grid_h + 78;
  return y;
}

std::string row_cells(const Grid& g, int r, const Layout& y, const Json& tokens) {
  std::string out;
  const int t0 = g.rows.start(r), t1 = g.rows.start(r + 1) - 1;
  const std::string steps = range_text("step", int_or(tokens[t0], "step", t0), int_or(tokens[t1], "step", t1));
  const std::string size = "\" width=\"" + std::to_string(y.cw) + "\" height=\"" + std::to_string(y.rh) + "\"";
  for (int c = 0; c < g.cols.count; ++c) {
    const Cell& cell = g.cells[static_cast<size_t>(r) * g.cols.count + c];
    const std::string where = range_text("layer", g.cols.start(c) + 1, g.cols.start(c + 1)) + " \xC2\xB7 " + steps;
    out += "<rect x=\"" + std::to_string(c * y.cw) + size;
    if (!cell.abs) {
      out += " class=\"na\"><title>no value \xC2\xB7 " + where + "</title></rect>";
      continue;
    }
    // fill: the normalised view (also what a viewer without CSS shows); class: the absolute one.
    const int level = g.abs_max > 0 ? static_cast<int>(std::lround(*cell.abs / g.abs_max * (kColourLevels - 1))) : 0;
    const double log_t = g.abs_max > g.log_min && *cell.abs > 0
                             ? std::log(std::max(*cell.abs, g.log_min) / g.log_min) / std::log(g.abs_max / g.log_min)
                             : 0;
    const int log_level = static_cast<int>(std::lround(log_t * (kColourLevels - 1)));
    const bool mean = t1 > t0 || g.cols.start(c + 1) - g.cols.start(c) > 1;
    out += " fill=\"" + viridis(*cell.norm) + "\" class=\"a" + std::to_string(level) + " l" +
           std::to_string(log_level) + "\"><title>" +
           exact(*cell.abs) + (mean ? " (mean)" : "") + " \xC2\xB7 " + fmt(*cell.norm, 4) +
           " of layer max \xC2\xB7 " + where + "</title></rect>";
  }
  return out;
}

// Per-token marks: a white bar on the boundary after the critical layer, a dot on the mutation
// layer. data-layer carries the layer for tests and tools.
std::string row_marks(const Grid& g, int r, const Layout& y, const Json& tokens) {
  const int t0 = g.rows.start(r), t1 = g.rows.start(r + 1) - 1;
  const std::string who =
      t1 > t0 ? range_text("step", int_or(tokens[t0], "step", t0), int_or(tokens[t1], "step", t1)) + " (most frequent)"
              : "step " + std::to_string(int_or(tokens[t0], "step", t0)) + " \xE2\x80\x9C" +
                    token_label(text_or(tokens[t0], "piece", "?"), 24) + "\xE2\x80\x9D";
  std::string out;
  const int c = g.critical[r], m = g.mutation[r], L = g.cols.total;
  const double bar = std::clamp(y.cw / 4.0, 2.0, 4.0);
  if (c >= 1 && c <= L) {
    const double x = (g.cols.of(c - 1) + 1) * y.cw - bar / 2;
    out += "<rect class=\"mc\" data-layer=\"" + std::to_string(c) + "\" x=\"" + px(x) + "\" width=\"" + px(bar) +
           "\" height=\"" + std::to_string(y.rh) + "\"><title>" + who + ": critical layer " + std::to_string(c) +
           "</title></rect>";
  }
  if (m >= 1 && m <= L) {
    const double cx = g.cols.of(m - 1) * y.cw + y.cw / 2.0, r_dot = std::max(1.2, std::min(y.cw, y.rh) / 3.2);
    out += "<circle class=\"mm\" data-layer=\"" + std::to_string(m) + "\" cx=\"" + px(cx) + "\" cy=\"" +
           px(y.rh / 2.0) + "\" r=\"" + px(r_dot) + "\"><title>" + who + ": mutation layer " + std::to_string(m) +
           "</title></circle>";
  }
  return out;
}

std::string row_label(const Grid& g, int r, const Layout& y, const Json& tokens) {
  const int t0 = g.rows.start(r), t1 = g.rows.start(r + 1) - 1;
  const std::string piece = text_or(tokens[t0], "piece", "?");
  const double base = y.top + r * y.rh + y.rh / 2.0 + 4;
  std::string step = "#" + std::to_string(int_or(tokens[t0], "step", t0));
  if (t1 > t0) step += "\xE2\x80\x93" + std::to_string(int_or(tokens[t1], "step", t1));
  return "<text x=\"4\" y=\"" + px(base) + "\" class=\"stepno\">" + step + "</text><text x=\"" +
         std::to_string(y.label_w - 6) + "\" y=\"" + px(base) + "\" class=\"tok\" text-anchor=\"end\"><title>" +
         token_label(piece) + "</title>" + token_label(piece, 18) + "</text>";
}

std::string column_labels(const Grid& g, const Layout& y) {
  const double px_per_layer = static_cast<double>(y.cw) * g.cols.count / g.cols.total;
  int step = 1;
  for (int s : {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000})
    if ((step = s) * px_per_layer >= 22) break;
  std::string out;
  double last_x = -1e9;
  for (int c = 0; c < g.cols.count; ++c) {
    const int first = g.cols.start(c) + 1, last = g.cols.start(c + 1);
    const int layer = c == 0 ? first : (last / step) * step >= first ? (last / step) * step : 0;
    const double x = y.label_w + c * y.cw + y.cw / 2.0;
    if (layer == 0 || x - last_x < 22) continue;
    out += "<text x=\"" + px(x) + "\" y=\"" + std::to_string(y.top - 6) + "\" class=\"tick\" text-anchor=\"middle\">" +
           std::to_string(layer) + "</text>";
    last_x = x;
  }
  return out;
}

// The stage strip above the columns.
std::string stage_strip(const Grid& g, const Layout& y, const Stages& s) {
  std::string out;
  for (const Band& b : s.bands) {
    if (b.first < 1) continue;
    const int x0 = y.label_w + g.cols.of(b.first - 1) * y.cw, x1 = y.label_w + (g.cols.of(b.last - 1) + 1) * y.cw;
    out += "<rect x=\"" + std::to_string(x0) + "\" y=\"18\" width=\"" + std::to_string(x1 - x0) +
           "\" height=\"16\" fill=\"" + stage_fill(b.name) + "\" stroke=\"#fff\"><title>" + escape(stage_name(b.name)) +
           ": " + range_text("layer", b.first, b.last) + "</title></rect>";
    if (x1 - x0 > 7.0 * stage_name(b.name).size())
      out += "<text x=\"" + px((x0 + x1) / 2.0) + "\" y=\"30\" class=\"band\" text-anchor=\"middle\">" +
             escape(stage_name(b.name)) + "</text>";
  }
  return out;
}

// Overall c and m as lines through the grid (drawn over the cells), labelled above the strip on
// opposite sides so the two labels never collide.
std::string overall_lines(const Grid& g, const Layout& y, const Stages& s) {
  std::string out;
  const int L = g.cols.total;
  auto line = [&](double x, const std::string& label, const char* anchor, double dx) {
    return "<line x1=\"" + px(x) + "\" y1=\"16\" x2=\"" + px(x) + "\" y2=\"" + std::to_string(y.top + y.grid_h) +
           "\" class=\"halo\"/><line x1=\"" + px(x) + "\" y1=\"16\" x2=\"" + px(x) + "\" y2=\"" +
           std::to_string(y.top + y.grid_h) + "\" class=\"stageline\"/><text x=\"" + px(x + dx) +
           "\" y=\"12\" class=\"marklabel\" text-anchor=\"" + anchor + "\">" + label + "</text>";
  };
  if (s.critical >= 1 && s.critical <= L)
    out += line(y.label_w + (g.cols.of(s.critical - 1) + 1) * y.cw, "critical " + std::to_string(s.critical) + " \xE2\x96\xB8",
                "end", -3);
  if (s.mutation >= 1 && s.mutation <= L)
    out += line(y.label_w + g.cols.of(s.mutation - 1) * y.cw, "\xE2\x97\x82 mutation " + std::to_string(s.mutation),
                "start", 3);
  return out;
}

std::string legend(const Grid& g, const Layout& y, const std::string& divergence) {
  const int x = y.label_w, top = y.top + y.grid_h + 30, w = 240;
  std::string out = "<defs><linearGradient id=\"hm-grad\">";
  for (int i = 0; i <= 9; ++i)
    out += "<stop offset=\"" + fmt(i / 9.0, 3) + "\" stop-color=\"" + viridis(i / 9.0) + "\"/>";
  out += "</linearGradient></defs><rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top) + "\" width=\"" +
         std::to_string(w) + "\" height=\"10\" fill=\"url(#hm-grad)\"/>";
  auto ticks = [&](const char* cls, double lo, double hi, bool log, const std::string& caption) {
    std::string t = std::string("<g class=\"") + cls + "\">";
    for (int i = 0; i <= 4; ++i)
      t += "<text x=\"" + px(x + w * i / 4.0) + "\" y=\"" + std::to_string(top + 22) + "\" class=\"tick\" text-anchor=\"middle\">" +
           fmt(log ? lo * std::pow(hi / lo, i / 4.0) : lo + (hi - lo) * i / 4.0, log ? 2 : 3) + "</text>";
    return t + "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top - 5) + "\" class=\"legend\">" + caption +
           "</text></g>";
  };
  out += ticks("lg-norm", 0, 1, false, escape(divergence) + " / its layer\xE2\x80\x99s maximum over tokens");
  out += ticks("lg-abs", 0, g.abs_max, false, escape(divergence) + " (nats), linear, 0 to the largest cell");
  if (g.abs_max > g.log_min)
    out += ticks("lg-log", g.log_min, g.abs_max, true, escape(divergence) + " (nats), log scale, smallest to largest cell");
  const int mx = x + w + 30;
  out += "<rect x=\"" + std::to_string(mx) + "\" y=\"" + std::to_string(top - 4) + "\" width=\"18\" height=\"16\" fill=\"" +
         viridis(0.1) + "\"/><rect class=\"mc\" x=\"" + std::to_string(mx + 8) + "\" y=\"" + std::to_string(top - 4) +
         "\" width=\"3\" height=\"16\"/><text x=\"" + std::to_string(mx + 24) + "\" y=\"" + std::to_string(top + 8) +
         "\" class=\"legend\">token\xE2\x80\x99s critical layer (bar after it)</text>";
  const int mx2 = mx + 230;
  out += "<rect x=\"" + std::to_string(mx2) + "\" y=\"" + std::to_string(top - 4) + "\" width=\"18\" height=\"16\" fill=\"" +
         viridis(0.1) + "\"/><circle class=\"mm\" cx=\"" + std::to_string(mx2 + 9) + "\" cy=\"" + std::to_string(top + 4) +
         "\" r=\"4\"/><text x=\"" + std::to_string(mx2 + 24) + "\" y=\"" + std::to_string(top + 8) +
         "\" class=\"legend\">token\xE2\x80\x99s mutation layer</text>";
  return out + "<text x=\"" + px(y.label_w + y.grid_w / 2.0) + "\" y=\"" + std::to_string(top - 14) +
         "\" class=\"axislabel\" text-anchor=\"middle\">layer</text>";
}

// Cells row by row, then the per-token marks (after all cells, so no cell hides a mark).
std::string grid_rows(const Grid& g, const Layout& y, const Json& tokens) {
  std::string out = "<g transform=\"translate(" + std::to_string(y.label_w) + "," + std::to_string(y.top) + ")\">";
  for (int r = 0; r < g.rows.count; ++r)
    out += "<g transform=\"translate(0," + std::to_string(r * y.rh) + ")\">" + row_cells(g, r, y, tokens) + "</g>";
  for (int r = 0; r < g.rows.count; ++r) {
    const std::string marks = row_marks(g, r, y, tokens);
    if (!marks.empty()) out += "<g transform=\"translate(0," + std::to_string(r * y.rh) + ")\">" + marks + "</g>";
  }
  return out + "</g>";
}

std::string sampling_note(const Grid& g, int label_every) {
  std::string note;
  if (g.rows.count < g.rows.total)
    note += std::to_string(g.rows.total) + " tokens drawn as " + std::to_string(g.rows.count) +
            " rows: a row is the mean of consecutive tokens and its marks are their most frequent layers. ";
  if (g.cols.count < g.cols.total)
    note += std::to_string(g.cols.total) + " layers drawn as " + std::to_string(g.cols.count) +
            " columns: a column is the mean of adjacent layers. ";
  if (label_every > 1) note += "Every " + std::to_string(label_every) + "th row is labelled; hover a cell for its values.";
  return note;
}

// CSS of the absolute and log views: one rule per colour level, active when the view's radio
// button is checked.
std::string view_css() {
  std::string css = "<style>";
  for (int k = 0; k < kColourLevels; ++k) {
    const std::string fill = "{fill:" + viridis(k / double(kColourLevels - 1)) + "}";
    css += "#hm-abs:checked ~ .hm-body .a" + std::to_string(k) + fill;
    css += "#hm-log:checked ~ .hm-body .l" + std::to_string(k) + fill;
  }
  return css + "</style>";
}

}  // namespace

std::string heatmap_figure(const Json& report, const Stages& stages, const RenderOptions& options) {
  const Json& tokens = report["tokens"];
  const int L = report["model"]["num_layers"].get<int>();
  const std::string divergence = text_or(child(report, "settings"), "divergence", "jsd") == "dola"
                                     ? "DoLa divergence" : "JS divergence";
  if (tokens.empty()) return "<p class=\"note\">No generated tokens: nothing to draw.</p>";
  const Grid g = build_grid(tokens, L, options);
  const Layout y = layout(g);
  const int label_every = (12 + y.rh - 1) / y.rh;  // rows between labels, so 11px text never overlaps

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"" + std::to_string(y.width) +
                    "\" height=\"" + std::to_string(y.height) + "\" viewBox=\"0 0 " + std::to_string(y.width) + " " +
                    std::to_string(y.height) + "\" role=\"img\" aria-label=\"" + escape(divergence) +
                    " heatmap, tokens by layers\">";
  svg += stage_strip(g, y, stages) + column_labels(g, y);
  for (int r = 0; r < g.rows.count; r += label_every) svg += row_label(g, r, y, tokens);
  svg += grid_rows(g, y, tokens) + overall_lines(g, y, stages) + legend(g, y, divergence) + "</svg>";
  const std::string note = sampling_note(g, label_every);
  return view_css() +
         "<div class=\"hm\"><input type=\"radio\" name=\"hm-view\" id=\"hm-norm\" checked=\"checked\"/>"
         "<label for=\"hm-norm\">per-layer normalised (as in the paper)</label>"
         "<input type=\"radio\" name=\"hm-view\" id=\"hm-abs\"/><label for=\"hm-abs\">absolute</label>"
         "<input type=\"radio\" name=\"hm-view\" id=\"hm-log\"/><label for=\"hm-log\">absolute, log scale</label>"
         "<div class=\"hm-body\">" + svg + (note.empty() ? "" : "<p class=\"note\">" + escape(note) + "</p>") +
         "</div></div>";
}

}  // namespace lvlm::render
