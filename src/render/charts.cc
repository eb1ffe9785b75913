// Line, bar and scatter charts as inline SVG. The x axis of line and bar charts is the layer;
// stage bands are drawn behind the data so every chart shows where the stages lie.
#include <algorithm>
#include <cmath>

#include "html.h"

namespace lvlm::render {
namespace {

constexpr double kCharWidth = 6.4;  // approximate advance of an 11px sans-serif character

// Plot area inside an SVG of width x height; layer l is centred in its slot.
struct Frame {
  int width = 0, height = 0;
  double left = 56, right = 14, top = 28, bottom = 38;
  int first = 0, last = 0;
  double plot_w() const { return width - left - right; }
  double plot_h() const { return height - top - bottom; }
  double slot() const { return plot_w() / std::max(1, last - first + 1); }
  double x(double layer) const { return left + (layer - first + 0.5) * slot(); }
  double bottom_y() const { return top + plot_h(); }
};

std::string svg_open(int width, int height, const std::string& label) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
         "\" role=\"img\" aria-label=\"" + escape(label) + "\">";
}

std::string text_at(double x, double y, const std::string& escaped, const char* cls, const char* anchor = "start") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" class=\"" + cls + "\" text-anchor=\"" + anchor + "\">" +
         escaped + "</text>";
}

// Tick step among 1, 2, 5 x 10^k so that ticks are at least `min_px` apart.
double nice_step(double range, double span_px, double min_px) {
  const double raw = range * min_px / std::max(span_px, 1.0);
  const double p = std::pow(10.0, std::floor(std::log10(std::max(raw, 1e-300))));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string draw_bands(const Frame& f, const std::vector<Band>& bands) {
  std::string out;
  for (const Band& b : bands) {
    if (b.last < f.first || b.first > f.last) continue;
    const double x0 = f.x(std::max(b.first, f.first) - 0.5), x1 = f.x(std::min(b.last, f.last) + 0.5);
    out += "<rect x=\"" + px(x0) + "\" y=\"" + px(f.top) + "\" width=\"" + px(x1 - x0) + "\" height=\"" +
           px(f.plot_h()) + "\" fill=\"" + stage_fill(b.name) + "\"><title>" + escape(stage_name(b.name)) +
           ": layers " + std::to_string(b.first) + "\xE2\x80\x93" + std::to_string(b.last) + "</title></rect>";
    const std::string name = stage_name(b.name);
    if (x1 - x0 > kCharWidth * 0.9 * name.size() + 4)
      out += text_at((x0 + x1) / 2, f.top + 11, escape(name), "band", "middle");
  }
  return out;
}

std::string draw_x_axis(const Frame& f) {
  std::string out = "<line x1=\"" + px(f.left) + "\" y1=\"" + px(f.bottom_y()) + "\" x2=\"" + px(f.left + f.plot_w()) +
                    "\" y2=\"" + px(f.bottom_y()) + "\" class=\"axis\"/>";
  const int step = std::max(1, static_cast<int>(nice_step(f.last - f.first + 1, f.plot_w(), 24)));
  for (int l = (f.first + step - 1) / step * step; l <= f.last; l += step) {
    out += "<line x1=\"" + px(f.x(l)) + "\" y1=\"" + px(f.bottom_y()) + "\" x2=\"" + px(f.x(l)) + "\" y2=\"" +
           px(f.bottom_y() + 4) + "\" class=\"axis\"/>";
    out += text_at(f.x(l), f.bottom_y() + 15, std::to_string(l), "tick", "middle");
  }
  out += text_at(f.left + f.plot_w() / 2, f.height - 6, "layer", "axislabel", "middle");
  return out;
}

// Mark labels sit at the bottom of the plot beside their line: right of it, or left where the
// right side would leave the chart or hit a label already placed; a label that fits neither side
// goes one row up. So c and m one layer apart (m = c + 1) or m = L never overlap or clip.
std::string draw_marks(const Frame& f, const std::vector<Mark>& marks) {
  struct Placed { double x0, x1; int row; };
  std::vector<Placed> placed;
  std::string lines, labels;
  const double right_edge = f.width - 2.0;
  for (const Mark& mark : marks) {
    if (mark.layer < f.first || mark.layer > f.last) continue;
    const double x = f.x(mark.layer), w = kCharWidth * 0.95 * static_cast<double>(mark.label.size()) + 2;
    lines += "<line x1=\"" + px(x) + "\" y1=\"" + px(f.top) + "\" x2=\"" + px(x) + "\" y2=\"" + px(f.bottom_y()) +
             "\" class=\"" + mark.cls + "\"/>";
    auto free = [&](double x0, double x1, int row) {
      if (x0 < 0 || x1 > right_edge) return false;
      for (const Placed& p : placed)
        if (p.row == row && x0 < p.x1 + 3 && p.x0 < x1 + 3) return false;
      return true;
    };
    for (int row = 0;; ++row) {
      const bool right = free(x + 3, x + 3 + w, row), left = !right && free(x - 3 - w, x - 3, row);
      if (!right && !left && row < 4) continue;
      const double x0 = right || (!left && x + 3 + w <= right_edge) ? x + 3 : x - 3 - w;
      placed.push_back({x0, x0 + w, row});
      labels += text_at(x0, f.bottom_y() - 4 - 12.0 * row, escape(mark.label), "marklabel");
      break;
    }
  }
  return lines + labels;
}

// y scale: linear or log10, with ticks.
struct YScale {
  bool log = false;
  double lo = 0, hi = 1, floor = 0;  // floor: smallest value drawn on a log axis
  const Frame* f = nullptr;
  // A data value: on a log axis, values below `floor` (zeros) are drawn at the floor.
  double y(double v) const { return at(log ? std::max(v, floor) : v); }
  // Where `v` itself lies (ticks: the lowest decade lies below the floor, not at it).
  double at(double v) const {
    const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return f->bottom_y() - std::clamp(t, -0.02, 1.02) * f->plot_h();
  }
};

YScale fit_scale(const LineChart& c, const Frame& f) {
  YScale s;
  s.f = &f;
  double lo = INFINITY, hi = -INFINITY, min_pos = INFINITY;
  for (const Series& ser : c.series)
    for (const auto* v : {&ser.y, &ser.lo, &ser.hi})
      for (const auto& y : *v)
        if (y) lo = std::min(lo, *y), hi = std::max(hi, *y), min_pos = *y > 0 ? std::min(min_pos, *y) : min_pos;
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  s.log = c.log_y && std::isfinite(min_pos);
  if (s.log) {
    // Zeros (a skipped block) sit at half the smallest positive value instead of at -inf.
    s.floor = std::max(lo > 0 ? lo : min_pos / 2, hi * 1e-12);
    s.lo = std::pow(10.0, std::floor(std::log10(s.floor)));
    s.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (s.hi <= s.lo) s.hi = s.lo * 10;
    return s;
  }
  s.lo = c.y_min.value_or(std::min(lo, 0.0));
  s.hi = c.y_max.value_or(hi);
  if (s.hi - s.lo < 1e-12 * std::max(1.0, std::abs(s.hi))) s.hi = s.lo + std::max(1.0, std::abs(s.lo));
  return s;
}

std::string draw_y_axis(const YScale& s, const std::string& label) {
  const Frame& f = *s.f;
  std::string out;
  std::vector<double> ticks;
  if (s.log) {
    const int decades = static_cast<int>(std::lround(std::log10(s.hi / s.lo)));
    const int every = std::max(1, static_cast<int>(std::ceil(decades * 16.0 / f.plot_h())));
    for (int k = 0; k <= decades; k += every) ticks.push_back(s.lo * std::pow(10.0, k));
  } else {
    const double step = nice_step(s.hi - s.lo, f.plot_h(), 28);
    for (double v = std::ceil(s.lo / step) * step; v <= s.hi + step * 1e-9; v += step)
      ticks.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  }
  for (double v : ticks) {
    const double y = s.at(v);
    out += "<line x1=\"" + px(f.left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(f.left + f.plot_w()) + "\" y2=\"" + px(y) +
           "\" class=\"grid\"/>" + text_at(f.left - 4, y + 4, fmt(v, 3), "tick", "end");
  }
  out += "<text class=\"axislabel\" text-anchor=\"middle\" transform=\"translate(12," + px(f.top + f.plot_h() / 2) +
         ") rotate(-90)\">" + escape(label) + "</text>";
  return out;
}

// Path through the defined points; a gap (nullopt) lifts the pen.
std::string series_path(const std::vector<std::optional<double>>& y, const Frame& f, const YScale& s, int first) {
  std::string d;
  bool pen = false;
  for (size_t i = 0; i < y.size(); ++i) {
    if (!y[i]) { pen = false; continue; }
    d += (pen ? "L" : "M") + px(f.x(first + static_cast<int>(i))) + " " + px(s.y(*y[i]));
    pen = true;
  }
  return d;
}

std::string series_band(const Series& ser, const Frame& f, const YScale& s, int first) {
  std::string d;
  const size_t n = std::min(ser.lo.size(), ser.hi.size());
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && ser.lo[j] && ser.hi[j]) ++j;
    if (j > i) {
      for (size_t k = i; k < j; ++k) d += (k == i ? "M" : "L") + px(f.x(first + int(k))) + " " + px(s.y(*ser.hi[k]));
      for (size_t k = j; k-- > i;) d += "L" + px(f.x(first + int(k))) + " " + px(s.y(*ser.lo[k]));
      d += "Z";
    }
    i = j + 1;
  }
  if (d.empty()) return "";
  return "<path d=\"" + d + "\" fill=\"" + series_colour(ser.style) + "\" fill-opacity=\"0.18\" stroke=\"none\"/>";
}

// Legend entries laid out in rows across the chart's width; returns the height used.
double legend_rows(const std::vector<std::pair<std::string, int>>& items, double x0, double y0, double width,
                   std::string* out) {
  double x = x0, y = y0;
  for (const auto& [name, style] : items) {  // names are escaped markup
    const double w = 30 + kCharWidth * std::min<size_t>(name.size(), 40);
    if (x > x0 && x + w > x0 + width) x = x0, y += 15;
    if (out) {
      *out += "<line x1=\"" + px(x) + "\" y1=\"" + px(y - 4) + "\" x2=\"" + px(x + 22) + "\" y2=\"" + px(y - 4) +
              "\" stroke=\"" + series_colour(style) + "\" stroke-width=\"2\" stroke-dasharray=\"" +
              series_dash(style) + "\"/>" + text_at(x + 26, y, name, "legend");
    }
    x += w + 10;
  }
  return y - y0 + 15;
}

}  // namespace

std::string line_chart(const LineChart& c) {
  Frame f{c.width, c.height};
  f.first = c.first_layer;
  f.last = std::max(c.last_layer, c.first_layer);
  std::vector<std::pair<std::string, int>> items;
  for (const Series& s : c.series) items.push_back({s.escaped ? s.name : token_label(s.name, 40), s.style});
  const double legend_h = c.legend ? legend_rows(items, f.left, 0, f.plot_w(), nullptr) : 0;
  f.top += legend_h;
  f.height += static_cast<int>(legend_h);
  if (!c.note.empty()) f.bottom += 14, f.height += 14;
  const YScale s = fit_scale(c, f);

  std::string out = svg_open(f.width, f.height, c.title);
  out += text_at(f.left, 15, escape(c.title), "charttitle");
  if (c.legend) legend_rows(items, f.left, 15 + 16, f.plot_w(), &out);
  out += draw_bands(f, c.bands) + draw_y_axis(s, c.y_label) + draw_x_axis(f);
  for (const Series& ser : c.series) out += series_band(ser, f, s, c.first_layer);
  for (const Series& ser : c.series) {
    const std::string d = series_path(ser.y, f, s, c.first_layer);
    if (d.empty()) continue;
    out += "<path d=\"" + d + "\" fill=\"none\" stroke=\"" + series_colour(ser.style) +
           "\" stroke-width=\"1.8\" stroke-dasharray=\"" + series_dash(ser.style) + "\"/>";
    if (!ser.markers) continue;
    out += "<g fill=\"" + series_colour(ser.style) + "\">";
    for (size_t i = 0; i < ser.y.size(); ++i) {
      if (!ser.y[i]) continue;
      const int layer = c.first_layer + static_cast<int>(i);
      out += "<circle cx=\"" + px(f.x(layer)) + "\" cy=\"" + px(s.y(*ser.y[i])) + "\" r=\"2.4\"><title>" +
             (ser.escaped ? ser.name : escape(ser.name)) + " \xC2\xB7 layer " + std::to_string(layer) + ": " +
             exact(*ser.y[i]) + "</title></circle>";
    }
    out += "</g>";
  }
  out += draw_marks(f, c.marks);  // over the data, so the labels stay readable
  if (!c.note.empty()) out += text_at(f.left, f.height - 22, escape(c.note), "note");
  return out + "</svg>";
}

std::string bar_chart(const BarChart& c) {
  Frame f{c.width, c.height};
  f.first = c.first_layer;
  f.last = std::max(c.last_layer, c.first_layer);
  f.top += 16;  // one legend row
  double top = 0;
  for (const auto& s : c.series)
    for (double v : s.second) top = std::max(top, v);
  LineChart scale_source;
  scale_source.y_min = 0.0;
  scale_source.y_max = top > 0 ? top : 1.0;
  const YScale s = fit_scale(scale_source, f);

  std::string out = svg_open(f.width, f.height, c.title);
  out += text_at(f.left, 15, escape(c.title), "charttitle");
  std::vector<std::pair<std::string, int>> items;
  for (size_t k = 0; k < c.series.size(); ++k) items.push_back({c.series[k].first, static_cast<int>(k) + 1});
  out += draw_bands(f, c.bands) + draw_y_axis(s, "count") + draw_x_axis(f);
  const double bar_w = f.slot() * 0.84 / std::max<size_t>(1, c.series.size());
  for (size_t k = 0; k < c.series.size(); ++k) {
    const auto& [name, counts] = c.series[k];
    out += "<g fill=\"" + series_colour(static_cast<int>(k) + 1) + "\">";
    for (size_t i = 0; i < counts.size(); ++i) {
      if (!(counts[i] > 0)) continue;
      const int layer = c.first_layer + static_cast<int>(i);
      const double x = f.x(layer) - f.slot() * 0.42 + bar_w * k, y = s.y(counts[i]);
      out += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(std::max(bar_w, 1.0)) + "\" height=\"" +
             px(f.bottom_y() - y) + "\"><title>" + escape(name) + " \xC2\xB7 layer " + std::to_string(layer) + ": " +
             (counts[i] == std::floor(counts[i]) && counts[i] < 1e15 ? fmt(counts[i], 15) : exact(counts[i])) +
             "</title></rect>";
    }
    out += "</g>";
  }
  // Legend swatches are bars, not lines.
  double x = f.left;
  for (const auto& [name, style] : items) {
    out += "<rect x=\"" + px(x) + "\" y=\"26\" width=\"12\" height=\"10\" fill=\"" + series_colour(style) + "\"/>" +
           text_at(x + 16, 35, escape(name), "legend");
    x += 30 + kCharWidth * name.size();
  }
  return out + "</svg>";
}

std::string scatter_chart(const ScatterChart& c) {
  Frame f{c.width, c.height};
  f.left = 14;
  f.top = 44;
  f.bottom = 14;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& p : c.points) x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  if (!(x1 > x0)) x0 -= 1, x1 += 1;
  if (!(y1 > y0)) y0 -= 1, y1 += 1;
  auto sx = [&](double v) { return f.left + 6 + (v - x0) / (x1 - x0) * (f.plot_w() - 12); };
  auto sy = [&](double v) { return f.bottom_y() - 6 - (v - y0) / (y1 - y0) * (f.plot_h() - 12); };
  // Shapes differ per group (circle, square, triangle, diamond) so groups survive grey scale.
  auto shape = [&](int g, double x, double y) {
    const std::string fill = c.groups.empty() ? "#000" : c.groups[g % c.groups.size()].second;
    switch (g % 4) {
      case 0: return "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"3\" fill=\"" + fill + "\"";
      case 1: return "<rect x=\"" + px(x - 2.6) + "\" y=\"" + px(y - 2.6) + "\" width=\"5.2\" height=\"5.2\" fill=\"" + fill + "\"";
      case 2: return "<path d=\"M" + px(x) + " " + px(y - 3.4) + "l3 5.4h-6z\" fill=\"" + fill + "\"";
      default: return "<path d=\"M" + px(x) + " " + px(y - 3.6) + "l3.6 3.6-3.6 3.6-3.6-3.6z\" fill=\"" + fill + "\"";
    }
  };
  std::string out = svg_open(f.width, f.height, c.title);
  out += text_at(f.left, 15, escape(c.title), "charttitle");
  double lx = f.left;
  for (size_t g = 0; g < c.groups.size(); ++g) {
    out += shape(static_cast<int>(g), lx + 4, 32) + "/>" + text_at(lx + 12, 36, escape(c.groups[g].first), "legend");
    lx += 28 + kCharWidth * c.groups[g].first.size();
  }
  out += "<rect x=\"" + px(f.left) + "\" y=\"" + px(f.top) + "\" width=\"" + px(f.plot_w()) + "\" height=\"" +
         px(f.plot_h()) + "\" class=\"frame\"/><g fill-opacity=\"0.75\" stroke=\"#fff\" stroke-width=\"0.4\">";
  for (const auto& p : c.points) {
    out += shape(p.group, sx(p.x), sy(p.y));
    out += p.title.empty() ? "/>" : "><title>" + escape(p.title) + "</title></" +
                                        (p.group % 4 == 0 ? "circle" : p.group % 4 == 1 ? "rect" : "path") + ">";
  }
  return out + "</g></svg>";
}

}  // namespace lvlm::render
