// The divergence heatmap: every drawn number is the report's, marks sit at the right layers, the
// normalised view divides by the layer's maximum, and big reports are down-sampled to a bound.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "../../src/render/html.h"
#include "lvlm_probe/render.h"
#include "synthetic.h"
#include "xml_check.h"

namespace lvlm {
namespace {

struct DrawnCell {
  int x = 0, width = 0;
  std::string fill, title;
};

// Every heatmap cell with a value: the rects whose class starts with the absolute-view level.
std::vector<DrawnCell> heatmap_cells(const std::string& html) {
  std::vector<DrawnCell> cells;
  for (size_t at = html.find("<rect x=\""); at != std::string::npos; at = html.find("<rect x=\"", at + 1)) {
    const size_t gt = html.find('>', at);
    const std::string tag = html.substr(at, gt - at);
    const size_t cls = tag.find(" class=\"a");
    if (cls == std::string::npos || !std::isdigit(static_cast<unsigned char>(tag[cls + 9]))) continue;
    DrawnCell c;
    c.x = std::atoi(tag.c_str() + 9);
    c.width = std::atoi(tag.c_str() + tag.find("width=\"") + 7);
    c.fill = tag.substr(tag.find("fill=\"") + 6, 7);
    EXPECT_EQ(html.compare(gt + 1, 7, "<title>"), 0) << tag;
    c.title = html.substr(gt + 8, html.find("</title>", gt) - gt - 8);
    cells.push_back(c);
  }
  return cells;
}

int number_after(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + key.size());
}

// data-layer of every element with class `cls`, in document order.
std::vector<int> marked_layers(const std::string& html, const std::string& cls) {
  std::vector<int> layers;
  const std::string key = "class=\"" + cls + "\" data-layer=\"";
  for (size_t at = html.find(key); at != std::string::npos; at = html.find(key, at + 1))
    layers.push_back(std::atoi(html.c_str() + at + key.size()));
  return layers;
}

TEST(RenderHeatmap, CellTitlesHoldTheReportsExactNumbers) {
  const Json report = test::synthetic_report(12, 32, 18, 27);
  const std::string html = render_report_html(report);
  const auto cells = heatmap_cells(html);
  ASSERT_EQ(cells.size(), 12u * 32u);
  for (const DrawnCell& c : cells) {
    const int layer = number_after(c.title, "\xC2\xB7 layer "), step = number_after(c.title, "\xC2\xB7 step ");
    ASSERT_GE(layer, 1) << c.title;
    ASSERT_GE(step, 0) << c.title;
    // Parsed back, the title's leading number is exactly the report's value (no rounding).
    EXPECT_EQ(std::strtod(c.title.c_str(), nullptr), report["tokens"][step]["d_prev"][layer].get<double>()) << c.title;
    EXPECT_EQ(c.title.find("(mean)"), std::string::npos);
    EXPECT_EQ(c.x, (layer - 1) * c.width) << "column of layer " << layer;
  }
}

TEST(RenderHeatmap, NormalisedViewDividesEachLayerByItsMaximum) {
  const Json report = test::synthetic_report(9, 32, 18, 27);
  std::map<int, double> col_max;
  for (const Json& t : report["tokens"])
    for (int l = 1; l <= 32; ++l) col_max[l] = std::max(col_max[l], t["d_prev"][l].get<double>());
  for (const DrawnCell& c : heatmap_cells(render_report_html(report))) {
    const int layer = number_after(c.title, "\xC2\xB7 layer "), step = number_after(c.title, "\xC2\xB7 step ");
    const double v = report["tokens"][step]["d_prev"][layer].get<double>();
    EXPECT_EQ(c.fill, render::viridis(v / col_max[layer])) << c.title;
    if (v == col_max[layer]) EXPECT_EQ(c.fill, "#fde725");  // the layer's maximum is the top colour
  }
}

TEST(RenderHeatmap, MarksSitAtEachTokensCriticalAndMutationLayer) {
  Json report = test::synthetic_report(10, 32, 18, 27);
  report["tokens"][4]["critical_layer"] = 12;  // one token with its own boundaries
  report["tokens"][4]["mutation_layer"] = 31;
  const std::string html = render_report_html(report);
  std::vector<int> critical, mutation;
  for (const Json& t : report["tokens"]) {
    critical.push_back(t["critical_layer"].get<int>());
    mutation.push_back(t["mutation_layer"].get<int>());
  }
  EXPECT_EQ(marked_layers(html, "mc"), critical);
  EXPECT_EQ(marked_layers(html, "mm"), mutation);
  // The bar after critical layer 12 is centred on the boundary between columns 12 and 13.
  const size_t at = html.find("class=\"mc\" data-layer=\"12\" x=\"");
  ASSERT_NE(at, std::string::npos);
  const int width = heatmap_cells(html).front().width;
  const double x = std::strtod(html.c_str() + html.find("x=\"", at) + 3, nullptr);
  const double bar = std::strtod(html.c_str() + html.find("width=\"", at) + 7, nullptr);
  EXPECT_NEAR(x + bar / 2, 12.0 * width, 0.06);
  // Overall lines and labels.
  EXPECT_NE(html.find("critical 18"), std::string::npos);
  EXPECT_NE(html.find("mutation 27"), std::string::npos);
}

TEST(RenderHeatmap, BigReportIsDownSampledWithinBounds) {
  const Json report = test::synthetic_report(1000, 80, 45, 68);
  RenderOptions options;  // 400 rows x 100 columns at most, 40,000 cells in both grids together
  const std::string html = render_report_html(report, options);
  EXPECT_LT(html.size(), 8u << 20) << "page of " << html.size() << " bytes";
  size_t elements = 0;
  for (size_t i = 0; i + 1 < html.size(); ++i) elements += html[i] == '<' && std::isalpha(static_cast<unsigned char>(html[i + 1]));
  EXPECT_LT(elements, 100000u);
  const auto cells = heatmap_cells(html);
  const size_t rows = 40000 / (80 + 81);  // divergence columns 1..80 beside probability columns 0..80
  EXPECT_EQ(cells.size(), rows * 80u);
  EXPECT_NE(cells.front().title.find("(mean)"), std::string::npos);
  EXPECT_NE(html.find("1000 tokens drawn as " + std::to_string(rows) + " rows"), std::string::npos);
  EXPECT_EQ(test::XmlCheck::check(html), "");
}

TEST(RenderHeatmap, BinnedCellIsTheMeanOfItsTokensAndLayers) {
  const Json report = test::synthetic_report(6, 8, 4, 6);
  RenderOptions options;
  options.max_rows = 3;     // bins of 2 tokens
  options.max_columns = 4;  // bins of 2 layers
  const auto cells = heatmap_cells(render_report_html(report, options));
  ASSERT_EQ(cells.size(), 12u);
  const auto& t = report["tokens"];
  const double want = (t[2]["d_prev"][3].get<double>() + t[2]["d_prev"][4].get<double>() +
                       t[3]["d_prev"][3].get<double>() + t[3]["d_prev"][4].get<double>()) / 4;
  const DrawnCell& c = cells[1 * 4 + 1];  // row bin 1 (steps 2-3), column bin 1 (layers 3-4)
  EXPECT_NE(c.title.find("layers 3\xE2\x80\x93" "4"), std::string::npos) << c.title;
  EXPECT_NE(c.title.find("steps 2\xE2\x80\x93" "3"), std::string::npos) << c.title;
  EXPECT_NEAR(std::strtod(c.title.c_str(), nullptr), want, 1e-15);
}

TEST(RenderHeatmap, MissingValuesAreGreyNotZero) {
  Json report = test::synthetic_report(3, 8, 4, 6);
  report["tokens"][1]["d_prev"][5] = nullptr;
  const std::string html = render_report_html(report);
  EXPECT_NE(html.find("class=\"na\"><title>no value \xC2\xB7 layer 5 \xC2\xB7 step 1</title>"), std::string::npos);
  EXPECT_EQ(heatmap_cells(html).size(), 3u * 8u - 1);
}

// Probability cells (class "pc"): their titles, in document order.
std::vector<std::string> probability_titles(const std::string& html) {
  std::vector<std::string> titles;
  for (size_t at = html.find("class=\"pc\"><title>"); at != std::string::npos; at = html.find("class=\"pc\"><title>", at + 1)) {
    const size_t from = at + 19;
    titles.push_back(html.substr(from, html.find("</title>", from) - from));
  }
  return titles;
}

TEST(RenderHeatmap, LogitLensGridHoldsEveryTokensProbabilityAtEveryLayer) {
  const Json report = test::synthetic_report(7, 16, 8, 12);
  const std::string html = render_report_html(report);
  const auto titles = probability_titles(html);
  ASSERT_EQ(titles.size(), 7u * 17u);  // layers 0..L, beside the divergence's 1..L
  for (const std::string& t : titles) {
    const int layer = number_after(t, "\xC2\xB7 layer "), step = number_after(t, "\xC2\xB7 step ");
    ASSERT_GE(layer, 0) << t;
    EXPECT_EQ(std::strtod(t.c_str() + 4, nullptr), report["tokens"][step]["p_token"][layer].get<double>()) << t;
  }
  // Colour: viridis of p itself (0..1, one scale for all tokens).
  const std::string first = "fill=\"" + render::viridis(report["tokens"][0]["p_token"][0].get<double>()) + "\" class=\"pc\"";
  EXPECT_NE(html.find(first), std::string::npos);
}

TEST(RenderHeatmap, PromptPositionsAreDrawnWhenReported) {
  Json report = test::synthetic_report(3, 8, 4, 6);
  EXPECT_EQ(render_report_html(report).find("Prompt positions"), std::string::npos);
  Json positions = Json::array();
  for (int p = 0; p < 5; ++p) {
    Json row = report["tokens"][p % 3];
    row.erase("step");
    row["position"] = p;
    row["kind"] = p == 1 || p == 2 ? "image" : "text";
    row["next_id"] = p == 0 || p == 1 ? Json(nullptr) : Json(100 + p);
    row["next_piece"] = p == 0 || p == 1 ? Json(nullptr) : Json("w" + std::to_string(p));
    row["p_next"] = p == 0 || p == 1 ? Json(nullptr) : row["p_token"];
    positions.push_back(row);
  }
  report["prompt_positions"] = positions;
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  const size_t at = html.find("Prompt positions");
  ASSERT_NE(at, std::string::npos);
  const std::string part = html.substr(at);
  EXPECT_EQ(heatmap_cells(part).size(), 5u * 8u);
  EXPECT_EQ(probability_titles(part).size(), 3u * 9u);  // positions 0 and 1 predict an image feature
  EXPECT_NE(part.find("no value \xC2\xB7 layer 0 \xC2\xB7 position 1"), std::string::npos);
  EXPECT_NE(part.find(">\xE2\x96\xA6 image</text>"), std::string::npos);  // image rows labelled as such
  EXPECT_NE(part.find(">w2</text>"), std::string::npos);  // position 3 holds the token position 2 predicted
  EXPECT_NE(part.find("id=\"pp-abs\""), std::string::npos);  // its own view buttons
}

}  // namespace
}  // namespace lvlm
