// The paper's divergence heatmap (Wang et al. 2025, the JS-divergence figure): rows are the
// generated tokens, columns the layers 1..L, a cell is d_l = divergence(P_{l-1}, P_l) of that
// token. Three views share one set of cells: the paper's per-layer normalised view (each column
// divided by its maximum over tokens; the cells' fill attribute), the absolute view (CSS classes
// a0..a63) and a log view (l0..l63; divergences span orders of magnitude and the stage fit works
// on log d, so this view shows all three stages at once). Radio buttons switch the CSS: no script.
// Beside it, on the same rows, the logit-lens heatmap: the emitted token's probability at every
// layer 0..L, on a fixed 0..1 scale. The same figure draws the prompt positions (--positions all).
//
// Above max_rows rows (or 40,000 cells in the two grids together) rows are means over equal bins
// of consecutive rows, and above max_columns layers columns are means over adjacent layers: the
// element count stays bounded however long the generation was.
#include <algorithm>
#include <array>
#include <map>

#include "html.h"

namespace lvlm::render {
namespace {

// Cells of both grids together (each with its <title>): about 6 MB of page at most.
constexpr int64_t kMaxCells = 40000;

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

// One matrix of values: rows x columns, column c covering layers first + cols.start(c) ...
struct Grid {
  Bins rows, cols;
  int first = 1;             // layer of column index 0 before binning
  std::vector<Cell> cells;   // rows.count x cols.count
  double abs_max = 0, log_min = 0;  // log view: [log_min, abs_max] on a log scale
  int layer(int index) const { return first + index; }
  const Cell& at(int r, int c) const { return cells[static_cast<size_t>(r) * cols.count + c]; }
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

Grid build_grid(const Json& rows, const char* key, int first, int last, const Bins& row_bins, int max_columns) {
  const int T = static_cast<int>(rows.size()), n = last - first + 1;
  std::vector<double> col_max(n, 0.0);
  for (const Json& t : rows)
    for (int i = 0; i < n; ++i)
      if (auto v = number(item(child(t, key), first + i))) col_max[i] = std::max(col_max[i], *v);
  Grid g;
  g.rows = row_bins;
  g.cols = {std::clamp(max_columns, 1, n), n};
  g.first = first;
  g.cells.resize(static_cast<size_t>(g.rows.count) * g.cols.count);
  for (int r = 0; r < g.rows.count; ++r)
    for (int c = 0; c < g.cols.count; ++c) {
      double sum = 0, sum_norm = 0;
      int count = 0;
      for (int t = g.rows.start(r); t < g.rows.start(r + 1) && t < T; ++t)
        for (int i = g.cols.start(c); i < g.cols.start(c + 1); ++i)
          if (auto v = number(item(child(rows[t], key), first + i)))
            sum += *v, sum_norm += col_max[i] > 0 ? *v / col_max[i] : 0, ++count;
      if (count == 0) continue;
      Cell& cell = g.cells[static_cast<size_t>(r) * g.cols.count + c];
      cell.abs = sum / count;
      cell.norm = sum_norm / count;
      g.abs_max = std::max(g.abs_max, *cell.abs);
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

// The figure's rows: tokens (by step) or prompt positions (by position).
struct Rows {
  const Json& json;
  const HeatmapSource& source;
  int number(int index) const {
    return source.prompt ? int_or(json[index], "position", index) : int_or(json[index], "step", index);
  }
  const char* noun() const { return source.prompt ? "position" : "step"; }
  std::string span(int t0, int t1) const { return range_text(noun(), number(t0), number(t1)); }
};

// Layout of the SVG, in pixels: row labels, the divergence grid, a gap, the probability grid.
struct Layout {
  int label_w = 190, top = 64, cw = 0, rh = 0, grid_w = 0, p_x = 0, p_w = 0, grid_h = 0, width = 0, height = 0;
};

Layout layout(const Grid& d, const Grid& p) {
  Layout y;
  y.cw = std::clamp(1060 / (d.cols.count + p.cols.count), 4, 36);
  y.rh = std::clamp(760 / d.rows.count, 2, 20);
  y.grid_w = y.cw * d.cols.count;
  y.p_x = y.label_w + y.grid_w + 28;
  y.p_w = y.cw * p.cols.count;
  y.grid_h = y.rh * d.rows.count;
  y.width = std::max(y.p_x + y.p_w + 24, 1000);  // at least the legends' width
  y.height = y.top + y.grid_h + 78;
  return y;
}

std::string cell_rect(int x, const Layout& y) {
  return "<rect x=\"" + std::to_string(x) + "\" width=\"" + std::to_string(y.cw) + "\" height=\"" +
         std::to_string(y.rh) + "\"";
}

// A cell's title suffix: its layer (or layer range when columns are binned) and its row.
std::string cell_place(const Grid& g, int c, const std::string& who) {
  return range_text("layer", g.layer(g.cols.start(c)), g.layer(g.cols.start(c + 1) - 1)) + " \xC2\xB7 " + who;
}

// Whether the cell averages several tokens or layers (the page bins large grids).
bool is_binned(const Grid& g, int r, int c) {
  return g.rows.start(r + 1) - g.rows.start(r) > 1 || g.cols.start(c + 1) - g.cols.start(c) > 1;
}

std::string divergence_cells(const Grid& g, int r, const Layout& y, const std::string& who) {
  std::string out;
  for (int c = 0; c < g.cols.count; ++c) {
    const Cell& cell = g.at(r, c);
    const std::string where = cell_place(g, c, who);
    out += cell_rect(c * y.cw, y);
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
    const bool mean = is_binned(g, r, c);
    out += " fill=\"" + viridis(*cell.norm) + "\" class=\"a" + std::to_string(level) + " l" +
           std::to_string(log_level) + "\"><title>" + exact(*cell.abs) + (mean ? " (mean)" : "") + " \xC2\xB7 " +
           fmt(*cell.norm, 4) + " of layer max \xC2\xB7 " + where + "</title></rect>";
  }
  return out;
}

// Probability cells: one colour scale, 0 to 1, the same in every view.
std::string probability_cells(const Grid& g, int r, const Layout& y, const std::string& who) {
  std::string out;
  for (int c = 0; c < g.cols.count; ++c) {
    const Cell& cell = g.at(r, c);
    const std::string where = cell_place(g, c, who);
    out += cell_rect(y.p_x - y.label_w + c * y.cw, y);
    if (!cell.abs) {
      out += " class=\"na\"><title>no value \xC2\xB7 " + where + "</title></rect>";
      continue;
    }
    const bool mean = is_binned(g, r, c);
    out += " fill=\"" + viridis(*cell.abs) + "\" class=\"pc\"><title>p = " + exact(*cell.abs) +
           (mean ? " (mean)" : "") + " \xC2\xB7 " + where + "</title></rect>";
  }
  return out;
}

// Per-token marks: a white bar on the boundary after the critical layer, a dot on the mutation
// layer; none where the token's c is undetermined or its m absent (null). data-layer carries the
// layer for tests and tools.
std::string row_marks(const Grid& g, int r, const Layout& y, const Rows& rows) {
  const int t0 = g.rows.start(r), t1 = g.rows.start(r + 1) - 1;
  std::vector<int> cs, ms;
  for (int t = t0; t <= t1; ++t) {
    cs.push_back(int_or(rows.json[t], "critical_layer", 0));
    ms.push_back(int_or(rows.json[t], "mutation_layer", 0));
  }
  const std::string who =
      t1 > t0 ? rows.span(t0, t1) + " (most frequent)"
              : "step " + std::to_string(rows.number(t0)) + " \xE2\x80\x9C" +
                    piece_label(child(rows.json[t0], "piece"), child(rows.json[t0], "id"), 24) + "\xE2\x80\x9D";
  std::string out;
  const int c = mode(cs), m = mode(ms), L = g.cols.total;
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

// The text of a row: a token's piece, or for a prompt position the input there ("image" for an
// image feature; the previous position's next_piece for text).
std::string row_text(const Rows& rows, int t, size_t max_chars) {
  if (!rows.source.prompt) return piece_label(child(rows.json[t], "piece"), child(rows.json[t], "id"), max_chars);
  if (text_or(rows.json[t], "kind", "") == "image") return "\xE2\x96\xA6 image";
  if (t == 0) return "(first)";
  return piece_label(child(rows.json[t - 1], "next_piece"), child(rows.json[t - 1], "next_id"), max_chars);
}

std::string row_label(const Grid& g, int r, const Layout& y, const Rows& rows) {
  const int t0 = g.rows.start(r), t1 = g.rows.start(r + 1) - 1;
  const double base = y.top + r * y.rh + y.rh / 2.0 + 4;
  std::string number = "#" + std::to_string(rows.number(t0));
  if (t1 > t0) number += "\xE2\x80\x93" + std::to_string(rows.number(t1));
  return "<text x=\"4\" y=\"" + px(base) + "\" class=\"stepno\">" + number + "</text><text x=\"" +
         std::to_string(y.label_w - 6) + "\" y=\"" + px(base) + "\" class=\"tok\" text-anchor=\"end\"><title>" +
         row_text(rows, t0, 0) + "</title>" + row_text(rows, t0, 18) + "</text>";
}

std::string column_labels(const Grid& g, const Layout& y, int x0) {
  const double px_per_layer = static_cast<double>(y.cw) * g.cols.count / g.cols.total;
  int step = 1;
  for (int s : {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000})
    if ((step = s) * px_per_layer >= 22) break;
  std::string out;
  double last_x = -1e9;
  for (int c = 0; c < g.cols.count; ++c) {
    const int first = g.layer(g.cols.start(c)), last = g.layer(g.cols.start(c + 1) - 1);
    const int layer = c == 0 ? first : (last / step) * step >= first ? (last / step) * step : -1;
    const double x = x0 + c * y.cw + y.cw / 2.0;
    if (layer < 0 || x - last_x < 22) continue;
    out += "<text x=\"" + px(x) + "\" y=\"" + std::to_string(y.top - 6) + "\" class=\"tick\" text-anchor=\"middle\">" +
           std::to_string(layer) + "</text>";
    last_x = x;
  }
  return out;
}

// x of the left edge of `layer`'s column in the divergence grid (layers 1..L).
double column_x(const Grid& g, const Layout& y, int layer) { return y.label_w + g.cols.of(layer - 1) * y.cw; }

// The stage strip above the divergence columns: determined stages only.
std::string stage_strip(const Grid& g, const Layout& y, const Stages& s) {
  std::string out;
  const int L = g.cols.total;
  for (const Band& b : s.bands) {
    if (b.first < 1 || b.last > L) continue;
    const double x0 = column_x(g, y, b.first), x1 = column_x(g, y, b.last) + y.cw;
    out += "<rect x=\"" + px(x0) + "\" y=\"30\" width=\"" + px(x1 - x0) + "\" height=\"16\" fill=\"" +
           stage_fill(b.name) + "\" stroke=\"#fff\"><title>" + escape(stage_name(b.name)) + ": " +
           range_text("layer", b.first, b.last) + "</title></rect>";
    if (x1 - x0 > 7.0 * stage_name(b.name).size())
      out += "<text x=\"" + px((x0 + x1) / 2.0) + "\" y=\"42\" class=\"band\" text-anchor=\"middle\">" +
             escape(stage_name(b.name)) + "</text>";
  }
  if (!s.critical)
    out += "<text x=\"" + std::to_string(y.label_w) + "\" y=\"42\" class=\"band\">critical layer undetermined: no "
           "stages drawn</text>";
  return out;
}

// Overall c, m and the hf final-norm step as lines through the grid (drawn over the cells),
// labelled above the strip: c left of its line, m right of its; a label that would leave the
// figure or meet another goes to the other side or one row up, so none overlaps or clips.
std::string overall_lines(const Grid& g, const Layout& y, const Stages& s) {
  struct Line { double x; std::string label; const char* cls; bool left; };
  std::vector<Line> lines;
  const int L = g.cols.total;
  if (s.critical && *s.critical >= 1 && *s.critical <= L)
    lines.push_back({column_x(g, y, *s.critical) + y.cw, "critical " + std::to_string(*s.critical) + " \xE2\x96\xB8",
                     "stageline", true});
  if (s.mutation && *s.mutation >= 1 && *s.mutation <= L)
    lines.push_back({column_x(g, y, *s.mutation), "\xE2\x97\x82 mutation " + std::to_string(*s.mutation), "stageline", false});
  if (s.final_norm_step && s.final_norm_step->layer >= 1 && s.final_norm_step->layer <= L)
    lines.push_back({column_x(g, y, s.final_norm_step->layer) + y.cw / 2.0, "final-norm step", "fnline", false});
  std::string out;
  std::vector<std::array<double, 3>> placed;  // x0, x1, row
  for (const Line& line : lines) {
    out += "<line x1=\"" + px(line.x) + "\" y1=\"28\" x2=\"" + px(line.x) + "\" y2=\"" +
           std::to_string(y.top + y.grid_h) + "\" class=\"halo\"/><line x1=\"" + px(line.x) + "\" y1=\"28\" x2=\"" +
           px(line.x) + "\" y2=\"" + std::to_string(y.top + y.grid_h) + "\" class=\"" + line.cls + "\"/>";
    const double w = 6.0 * line.label.size() * 0.85 + 4;  // 10px bold; the arrows are 3 bytes, 1 glyph
    auto fits = [&](double x0, int row) {
      if (x0 < 0 || x0 + w > y.width - 2) return false;
      for (const auto& p : placed)
        if (p[2] == row && x0 < p[1] + 4 && p[0] < x0 + w + 4) return false;
      return true;
    };
    double x0 = 0;
    int row = 0;
    for (;; ++row) {
      const double first = line.left ? line.x - 3 - w : line.x + 3, second = line.left ? line.x + 3 : line.x - 3 - w;
      if (fits(first, row)) { x0 = first; break; }
      if (fits(second, row)) { x0 = second; break; }
      if (row == 1) { x0 = std::clamp(first, 0.0, y.width - 2 - w); break; }
    }
    placed.push_back({x0, x0 + w, static_cast<double>(row)});
    out += "<text x=\"" + px(x0) + "\" y=\"" + std::to_string(12 + 13 * row) + "\" class=\"marklabel\">" + line.label +
           "</text>";
  }
  return out;
}

std::string gradient(const std::string& id, int x, int top, int w) {
  std::string out = "<defs><linearGradient id=\"" + id + "\">";
  for (int i = 0; i <= 9; ++i)
    out += "<stop offset=\"" + fmt(i / 9.0, 3) + "\" stop-color=\"" + viridis(i / 9.0) + "\"/>";
  return out + "</linearGradient></defs><rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top) +
         "\" width=\"" + std::to_string(w) + "\" height=\"10\" fill=\"url(#" + id + ")\"/>";
}

std::string ticks(const char* cls, int x, int top, int w, double lo, double hi, bool log, const std::string& caption) {
  std::string t = std::string("<g class=\"") + cls + "\">";
  for (int i = 0; i <= 4; ++i)
    t += "<text x=\"" + px(x + w * i / 4.0) + "\" y=\"" + std::to_string(top + 22) +
         "\" class=\"tick\" text-anchor=\"middle\">" +
         fmt(log ? lo * std::pow(hi / lo, i / 4.0) : lo + (hi - lo) * i / 4.0, log ? 2 : 3) + "</text>";
  return t + "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top - 5) + "\" class=\"legend\">" + caption +
         "</text></g>";
}

std::string legend(const Grid& g, const Layout& y, const std::string& divergence, const std::string& id, bool marks) {
  const int x = y.label_w, top = y.top + y.grid_h + 30, w = 220;
  std::string out = gradient(id + "-grad", x, top, w);
  out += ticks("lg-norm", x, top, w, 0, 1, false, escape(divergence) + " / its layer\xE2\x80\x99s maximum");
  out += ticks("lg-abs", x, top, w, 0, g.abs_max, false, escape(divergence) + " (nats), linear");
  if (g.abs_max > g.log_min)
    out += ticks("lg-log", x, top, w, g.log_min, g.abs_max, true, escape(divergence) + " (nats), log scale");
  if (marks) {
    const int mx = x + w + 24;
    out += "<rect x=\"" + std::to_string(mx) + "\" y=\"" + std::to_string(top - 4) + "\" width=\"18\" height=\"16\" fill=\"" +
           viridis(0.1) + "\"/><rect class=\"mc\" x=\"" + std::to_string(mx + 8) + "\" y=\"" + std::to_string(top - 4) +
           "\" width=\"3\" height=\"16\"/><text x=\"" + std::to_string(mx + 24) + "\" y=\"" + std::to_string(top + 8) +
           "\" class=\"legend\">own critical layer (bar after it)</text>";
    out += "<rect x=\"" + std::to_string(mx) + "\" y=\"" + std::to_string(top + 16) + "\" width=\"18\" height=\"16\" fill=\"" +
           viridis(0.1) + "\"/><circle class=\"mm\" cx=\"" + std::to_string(mx + 9) + "\" cy=\"" +
           std::to_string(top + 24) + "\" r=\"4\"/><text x=\"" + std::to_string(mx + 24) + "\" y=\"" +
           std::to_string(top + 28) + "\" class=\"legend\">own mutation layer</text>";
  }
  return out + "<text x=\"" + px(y.label_w + y.grid_w / 2.0) + "\" y=\"" + std::to_string(top - 18) +
         "\" class=\"axislabel\" text-anchor=\"middle\">layer</text>";
}

std::string probability_legend(const Layout& y, const std::string& id, const std::string& what) {
  const int x = y.p_x, top = y.top + y.grid_h + 30, w = std::min(std::max(y.p_w, 160), 220);
  return gradient(id + "-pgrad", x, top, w) + ticks("lg-p", x, top, w, 0, 1, false, escape(what)) + "<text x=\"" +
         px(y.p_x + y.p_w / 2.0) + "\" y=\"" + std::to_string(top - 18) +
         "\" class=\"axislabel\" text-anchor=\"middle\">layer</text>";
}

// Cells row by row, then the per-token marks (after all cells, so no cell hides a mark).
std::string grid_rows(const Grid& d, const Grid& p, const Layout& y, const Rows& rows) {
  std::string out = "<g transform=\"translate(" + std::to_string(y.label_w) + "," + std::to_string(y.top) + ")\">";
  for (int r = 0; r < d.rows.count; ++r) {
    const std::string who = rows.span(d.rows.start(r), d.rows.start(r + 1) - 1);
    out += "<g transform=\"translate(0," + std::to_string(r * y.rh) + ")\">" + divergence_cells(d, r, y, who) +
           probability_cells(p, r, y, who) + "</g>";
  }
  if (!rows.source.prompt)
    for (int r = 0; r < d.rows.count; ++r) {
      const std::string marks = row_marks(d, r, y, rows);
      if (!marks.empty()) out += "<g transform=\"translate(0," + std::to_string(r * y.rh) + ")\">" + marks + "</g>";
    }
  return out + "</g>";
}

std::string sampling_note(const Grid& g, int label_every, const char* noun) {
  std::string note;
  if (g.rows.count < g.rows.total)
    note += std::to_string(g.rows.total) + " " + noun + "s drawn as " + std::to_string(g.rows.count) +
            " rows: a row is the mean of consecutive " + noun + "s and its marks are their most frequent layers. ";
  if (g.cols.count < g.cols.total)
    note += std::to_string(g.cols.total) + " layers drawn as " + std::to_string(g.cols.count) +
            " columns: a column is the mean of adjacent layers. ";
  if (label_every > 1) note += "Every " + std::to_string(label_every) + "th row is labelled; hover a cell for its values.";
  return note;
}

// CSS of the absolute and log views and their legends: one rule per colour level, active when the
// view's radio button is checked.
std::string view_css(const std::string& id) {
  std::string css = "<style>";
  for (int k = 0; k < kColourLevels; ++k) {
    const std::string fill = "{fill:" + viridis(k / double(kColourLevels - 1)) + "}";
    css += "#" + id + "-abs:checked ~ ." + id + "-body .a" + std::to_string(k) + fill;
    css += "#" + id + "-log:checked ~ ." + id + "-body .l" + std::to_string(k) + fill;
  }
  for (const char* view : {"abs", "log"})
    css += "#" + id + "-" + view + ":checked ~ ." + id + "-body .lg-" + view + "{display:inline}#" + id + "-" + view +
           ":checked ~ ." + id + "-body .lg-norm{display:none}";
  return css + "</style>";
}

}  // namespace

std::string heatmap_figure(const Json& report, const Json& rows_json, const Stages& stages,
                           const RenderOptions& options, const HeatmapSource& source) {
  const int L = report["model"]["num_layers"].get<int>();
  const std::string divergence = text_or(child(report, "settings"), "divergence", "jsd") == "dola"
                                     ? "DoLa divergence" : "JS divergence";
  if (!rows_json.is_array() || rows_json.empty())
    return source.prompt ? "<p class=\"note\">No prompt positions: nothing to draw.</p>"
                         : "<p class=\"note\">No generated tokens: nothing to draw.</p>";
  const Rows rows{rows_json, source};
  const int T = static_cast<int>(rows_json.size());
  const int d_cols = std::clamp(options.max_columns, 1, L), p_cols = std::clamp(options.max_columns, 1, L + 1);
  // Both grids share the rows; together they hold at most kMaxCells cells.
  const int row_count = static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(options.max_rows, kMaxCells / (d_cols + p_cols)), 1, T));
  const Bins row_bins{row_count, T};
  const Grid d = build_grid(rows_json, "d_prev", 1, L, row_bins, options.max_columns);
  const Grid p = build_grid(rows_json, source.probability_key, 0, L, row_bins, options.max_columns);
  const Layout y = layout(d, p);
  const int label_every = (12 + y.rh - 1) / y.rh;  // rows between labels, so 11px text never overlaps
  const std::string id = source.id;
  const std::string p_what = source.prompt ? "probability of the next input token" : "probability of the emitted token";

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"" + std::to_string(y.width) +
                    "\" height=\"" + std::to_string(y.height) + "\" viewBox=\"0 0 " + std::to_string(y.width) + " " +
                    std::to_string(y.height) + "\" role=\"img\" aria-label=\"" + escape(divergence) + " and " + p_what +
                    ", " + rows.noun() + "s by layers\">";
  // The probability grid's title sits in the stage strip's row (the strip spans the divergence
  // columns only), below the rows the c / m labels may use.
  svg += "<text x=\"" + std::to_string(y.p_x) + "\" y=\"42\" class=\"charttitle\">Logit lens: " + escape(p_what) +
         "</text>";
  svg += stage_strip(d, y, stages) + column_labels(d, y, y.label_w) + column_labels(p, y, y.p_x);
  for (int r = 0; r < d.rows.count; r += label_every) svg += row_label(d, r, y, rows);
  svg += grid_rows(d, p, y, rows) + overall_lines(d, y, stages) + legend(d, y, divergence, id, !source.prompt) +
         probability_legend(y, id, p_what) + "</svg>";
  const std::string note = sampling_note(d, label_every, source.prompt ? "position" : source.row_noun);
  return view_css(id) + "<div class=\"hm\"><input type=\"radio\" name=\"" + id + "-view\" id=\"" + id +
         "-norm\" checked=\"checked\"/><label for=\"" + id + "-norm\">per-layer normalised (as in the paper)</label>"
         "<input type=\"radio\" name=\"" + id + "-view\" id=\"" + id + "-abs\"/><label for=\"" + id + "-abs\">absolute</label>"
         "<input type=\"radio\" name=\"" + id + "-view\" id=\"" + id + "-log\"/><label for=\"" + id +
         "-log\">absolute, log scale</label><div class=\"hm-body " + id + "-body\">" + svg +
         (note.empty() ? "" : "<p class=\"note\">" + escape(note) + "</p>") + "</div></div>";
}

}  // namespace lvlm::render
