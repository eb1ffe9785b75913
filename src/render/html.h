// Building blocks of the render module's pages (private to src/render): escaping and number
// formatting, tolerant reads of report JSON, the colour scale, stage bands, and the SVG charts.
// Everything returns markup as strings; the pages concatenate them.
//
// The markup is XHTML-compatible (every attribute quoted, every element closed, only the XML
// entities plus numeric ones) so that tests can parse it with a plain XML well-formedness check.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lvlm_probe/json.h"
#include "lvlm_probe/render.h"

namespace lvlm::render {

// ---- text -------------------------------------------------------------------------------------

// Any bytes to text that is safe inside an element or a quoted attribute: invalid UTF-8,
// NUL and other control characters (XML 1.0 forbids them) become U+FFFD; & < > " ' are escaped.
// Newlines and tabs are kept (CSS decides whether they show).
std::string escape(std::string_view text);
// A token piece as a label: newline, tab and other control characters made visible ("\n"),
// cut to `max_chars` code points with "…" (0 = no limit), then escaped.
std::string token_label(std::string_view piece, size_t max_chars = 0);
// Shortest text that parses back to exactly `v` (titles hold the exact numbers of the report).
std::string exact(double v);
// For reading: `digits` significant digits.
std::string fmt(double v, int digits = 3);
// An SVG coordinate: integers stay integers, otherwise one decimal (keeps big pages small).
std::string px(double v);

// ---- tolerant JSON reads (a summary is read leniently; reports are validated first) ----------

std::optional<double> number(const Json& value);
std::optional<double> number(const Json& object, const char* key);
int int_or(const Json& object, const char* key, int fallback);
std::string text_or(const Json& object, const char* key, const std::string& fallback);
// A string as is, null as `fallback`, anything else as its JSON text.
std::string text_of(const Json& value, const std::string& fallback);
// `object[key]` / `array[index]` when it exists, else a static null (never throws).
const Json& child(const Json& object, const char* key);
const Json& item(const Json& array, size_t index);
// JSON text of any value; invalid UTF-8 is replaced instead of throwing.
std::string dump(const Json& value);

// ---- colours -------------------------------------------------------------------------------------

// Viridis (matplotlib), t in [0, 1]: luminance rises monotonically, so it prints in grey scale.
std::string viridis(double t);
inline constexpr int kColourLevels = 64;  // the heatmap's absolute view is quantised to CSS classes
// Line styles for up to 8 series: colour and dash pattern differ, so lines stay apart in grey.
std::string series_colour(int style);
std::string series_dash(int style);

// ---- stages ---------------------------------------------------------------------------------------

struct Band {
  std::string name;  // rapid_evolution | stabilization | mutation
  int first = 0, last = 0;
};
// The `hf` lens's step at layer L (the final norm applied there only): reported on its own, never
// a mutation.
struct FinalNormStep {
  int layer = 0;
  std::optional<double> divergence;
  std::string note;
};
struct Stages {
  std::optional<int> critical;  // nullopt: undetermined (report/2 writes null)
  std::optional<int> mutation;  // nullopt: absent, no jump after the plateau
  std::optional<double> critical_confidence, mutation_confidence;  // report/1: `confidence` is c's
  std::string method;
  std::vector<Band> bands;  // determined, non-empty segments only
  std::optional<FinalNormStep> final_norm_step;
};
// From a report's, summary's or token's `stages` (a token holds critical_layer, mutation_layer and
// their confidences itself); segments rebuilt from c and m when absent. A non-integer c or m
// counts as undetermined / absent.
Stages read_stages(const Json& stages, int num_layers);
// No band without c; without m, stabilization runs to L.
std::vector<Band> bands_for(std::optional<int> critical, std::optional<int> mutation, int num_layers);
std::string stage_of(const std::vector<Band>& bands, int layer);  // "embedding" for layer 0 / none
std::string stage_name(const std::string& id);                   // "rapid evolution"
std::string stage_fill(const std::string& id);                    // light band colour
// One-line description: "rapid evolution 1–18 · stabilization 19–26 · mutation 27–32", with
// "critical layer undetermined" / "mutation absent" where that is so.
std::string stages_text(const Stages& stages);

// A labelled vertical line at a layer on a chart or heatmap.
struct Mark {
  int layer = 0;
  std::string label;
  const char* cls = "mark";  // "mark": c and m; "fnmark": the hf final-norm step
};
// c, m and the final-norm step as marks; `long_labels`: "c = 18" instead of "c".
std::vector<Mark> stage_marks(const Stages& stages, bool long_labels);

// ---- charts ---------------------------------------------------------------------------------------

// x is always the layer; y may have gaps (nullopt). lo/hi, when filled, draw a band (quartiles).
struct Series {
  std::string name;
  std::vector<std::optional<double>> y, lo, hi;  // index = layer - LineChart::first_layer
  int style = 0;
  bool markers = true;  // a dot per layer with the exact value as its <title>
  bool escaped = false;  // `name` is markup already (escaped), not text
};
struct LineChart {
  std::string title, y_label;
  bool log_y = false;
  std::optional<double> y_min, y_max;  // fixed range (probabilities: 0..1)
  int width = 430, height = 230;
  int first_layer = 0, last_layer = 0;
  std::vector<Band> bands;
  std::vector<Mark> marks;  // labelled vertical lines; labels never collide nor leave the chart
  std::vector<Series> series;
  bool legend = false;
  std::string note;  // small text under the plot
};
std::string line_chart(const LineChart& chart);

// Grouped bars per layer (histograms of critical and mutation layers).
struct BarChart {
  std::string title;
  int width = 640, height = 230;
  int first_layer = 0, last_layer = 0;
  std::vector<Band> bands;
  std::vector<std::pair<std::string, std::vector<double>>> series;  // name, count per layer
};
std::string bar_chart(const BarChart& chart);

struct ScatterPoint {
  double x = 0, y = 0;
  int group = 0;       // index into ScatterChart::groups
  std::string title;   // hover text (empty: none)
};
struct ScatterChart {
  std::string title;
  int width = 640, height = 480;
  std::vector<std::pair<std::string, std::string>> groups;  // name, colour; shapes differ too
  std::vector<ScatterPoint> points;
};
std::string scatter_chart(const ScatterChart& chart);

// ---- figures and pages ----------------------------------------------------------------------

// The median of layers[].key as a line and its q1..q3 as a band, layers first..last. `layers` is
// the report's or summary's per-layer array ({layer, key: {median, q1, q3, ...}}).
Series layer_series(const Json& layers, const char* key, int first, int last, const std::string& name, int style);
// A per-layer chart of one quantity of a report's tokens[] or layers[] (key "p_token", "d_prev",
// ...), layers 0..last, without series: title and unit as given, a log y axis when asked, and
// probabilities ("p_token") on a fixed 0..1 axis.
struct LayerQuantity {
  const char* key;
  const char* title;
  const char* unit;
  bool log;
};
LineChart layer_chart(const LayerQuantity& quantity, int last_layer);
// The name of run `run` of a summary or evaluation (its `runs`), for tables.
std::string run_name(const Json& doc, const Json& run);
// The failed items of a summary or evaluation (`failed_items` [{run, id, reason}]) as a table with
// their reasons; "" when there are none.
std::string failures_section(const Json& doc);
// The stage overview: the aggregate divergence curve (log scale) over the stage bands with c and
// m marked; `curve` holds d at layers 1..L (stages.aggregate_curve), else the median is used.
std::string stage_overview(const Json& stages_json, const Json& layers, const Stages& stages, int num_layers);
// The stages as coloured chips with layer ranges, method and confidence.
std::string stages_line(const Stages& stages);
// A JSON value as short readable text (escaped): long arrays are cut, objects become "k: v; ...".
std::string value_text(const Json& value);

// The divergence heatmap with its view toggle and legend, and beside it, on the same rows, the
// logit-lens heatmap (the emitted token's probability at every layer). `rows` are the report's
// tokens[] (keys d_prev, p_token) or prompt_positions[] (d_prev, p_next); `id` keeps the views'
// CSS of two figures on one page apart.
struct HeatmapSource {
  const char* id = "hm";
  const char* probability_key = "p_token";
  const char* row_noun = "token";  // in notes: "1000 tokens drawn as ..."
  bool prompt = false;             // rows are prompt positions: labelled by position and kind
};
std::string heatmap_figure(const Json& report, const Json& rows, const Stages& stages, const RenderOptions& options,
                           const HeatmapSource& source);
// A token piece for a label: "id 1234" when the piece is empty (no tokenizer), whitespace-only
// pieces with each space as ␣, then as token_label.
std::string piece_label(const Json& piece, const Json& id, size_t max_chars = 0);
// The generated token whose curves are drawn: `requested`, or the one whose divergence at its own
// mutation layer is largest. UsageError when `requested` is not a generated step.
int pick_focus(const Json& report, int requested);
// Token-probability curves and the top-k table of one generated token.
std::string focus_section(const Json& report, const Stages& stages, int index);
// The per-image t-SNE (token_embedding() in report.h) as a scatter chart with its notes; groups are
// the stages, or tsne.py's fixed layer groups when the embedding's style is "paper".
std::string tsne_section(const Json& report, const Json& embedding, const Stages& stages);
// The report's image_positions as the preprocessed image under its patch grid, one layer at a
// time (radio buttons); "" without the section.
std::string image_lens_section(const Json& report, int num_layers);
// The report's attention summary: the image share per layer over the stage bands; "" without it.
std::string attention_section(const Json& report, const Stages& stages, int num_layers);
// <!DOCTYPE html>... with the shared CSS; `title` is escaped and cut to 100 characters, `body`
// inserted as is.
std::string html_document(const std::string& title, const std::string& body);
// A <dl> row: escaped key, value markup as given.
std::string dl_row(const std::string& key, const std::string& value_markup);

}  // namespace lvlm::render
