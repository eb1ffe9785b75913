// "Token up close": complete competitor curves, the token's own stages in every part, labels that
// neither overlap nor leave their chart, and stages drawn only where they are determined.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "lvlm_probe/render.h"
#include "synthetic.h"
#include "xml_check.h"

namespace lvlm {
namespace {

using test::count;

// The part of the page from "up close" to the end (the focus section and the tables after it).
std::string focus_part(const std::string& html) { return html.substr(html.find(" up close</h2>")); }

TEST(RenderFocus, CompetitorCurvesAreCompleteFromTheReport) {
  const Json report = test::synthetic_report(4, 16, 8, 12);
  RenderOptions options;
  options.focus_step = 2;
  const std::string html = focus_part(render_report_html(report, options));
  const Json& token = report["tokens"][2];
  // The 7 competitors with the highest peaks are drawn, the rest counted in the note.
  std::vector<std::pair<double, Json>> rivals;
  for (const Json& c : token["competitors"])
    if (c["id"] != token["id"]) rivals.push_back({*std::max_element(c["p"].begin(), c["p"].end()), c});
  ASSERT_GT(rivals.size(), 7u);
  std::stable_sort(rivals.begin(), rivals.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  EXPECT_NE(html.find(std::to_string(rivals.size() - 7) + " more competitors"), std::string::npos);
  for (size_t i = 0; i < rivals.size(); ++i) {
    const Json& c = rivals[i].second;
    // A dot with the exact value at every layer 0..L: no gap below the top-k.
    for (int l = 0; l <= 16; ++l) {
      const std::string dot = "\xE2\x80\x9C" + c["piece"].get<std::string>() + "\xE2\x80\x9D \xC2\xB7 layer " +
                              std::to_string(l) + ": " + c["p"][l].dump() + "</title>";
      EXPECT_EQ(count(html, dot), i < 7 ? 1u : 0u) << dot;
    }
  }
  EXPECT_NE(html.find("Complete curves"), std::string::npos);
}

TEST(RenderFocus, OlderReportsFallBackToTheTopkListsAndSaySo) {
  Json report = test::synthetic_report(4, 16, 8, 12);
  for (Json& t : report["tokens"]) t.erase("competitors");
  RenderOptions options;
  options.focus_step = 1;
  const std::string html = focus_part(render_report_html(report, options));
  EXPECT_NE(html.find("gaps where a token is not among"), std::string::npos);
}

TEST(RenderFocus, StageColumnAndBandsAreTheTokensOwn) {
  Json report = test::synthetic_report(3, 16, 8, 12);
  report["tokens"][1]["critical_layer"] = 5;
  report["tokens"][1]["mutation_layer"] = 14;
  RenderOptions options;
  options.focus_step = 1;
  const std::string html = focus_part(render_report_html(report, options));
  EXPECT_EQ(count(html, "<td class=\"stage\">rapid evolution</td>"), 5u);  // layers 1..5, not 1..8
  EXPECT_EQ(count(html, "<td class=\"stage\">stabilization</td>"), 8u);    // 6..13
  EXPECT_EQ(count(html, "<td class=\"stage\">mutation</td>"), 3u);         // 14..16
  EXPECT_NE(html.find("Its own stages: rapid evolution 1\xE2\x80\x93" "5 "), std::string::npos);
}

struct Label {
  double x0, x1, y;
  std::string text;
};

// Mark labels of every <svg> in `html`, with a width estimated generously (10px bold: 6.5 px per
// character), and each svg's width.
std::vector<std::pair<double, std::vector<Label>>> mark_labels(const std::string& html) {
  std::vector<std::pair<double, std::vector<Label>>> out;
  const std::regex svg_re("<svg [^>]*width=\"([0-9.]+)\""), label_re(
      "<text x=\"([-0-9.]+)\" y=\"([-0-9.]+)\" class=\"marklabel\"( text-anchor=\"(start|end)\")?>([^<]*)</text>");
  for (size_t at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1)) {
    const std::string svg = html.substr(at, html.find("</svg>", at) - at);
    std::smatch m;
    std::regex_search(svg, m, svg_re);
    std::vector<Label> labels;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), label_re); it != std::sregex_iterator(); ++it) {
      const std::string text = (*it)[5];
      size_t glyphs = 0;
      for (unsigned char ch : text) glyphs += (ch & 0xC0) != 0x80;
      const double x = std::stod((*it)[1]), w = 6.5 * glyphs;
      const bool end = (*it)[4] == "end";
      labels.push_back({end ? x - w : x, end ? x : x + w, std::stod((*it)[2]), text});
    }
    out.push_back({std::stod(m[1]), labels});
  }
  return out;
}

void expect_labels_apart_and_inside(const std::string& html, const std::string& what) {
  for (const auto& [width, labels] : mark_labels(html))
    for (size_t i = 0; i < labels.size(); ++i) {
      EXPECT_GE(labels[i].x0, 0) << what << ": " << labels[i].text;
      EXPECT_LE(labels[i].x1, width) << what << ": " << labels[i].text << " leaves its chart";
      for (size_t j = 0; j < i; ++j)
        if (labels[i].y == labels[j].y)
          EXPECT_TRUE(labels[i].x1 <= labels[j].x0 || labels[j].x1 <= labels[i].x0)
              << what << ": " << labels[i].text << " overlaps " << labels[j].text;
    }
}

TEST(RenderFocus, MarkLabelsNeitherOverlapNorClip) {
  // m = c + 1, then m = L, then both next to the hf final-norm step.
  for (auto [c, m] : {std::pair{18, 19}, std::pair{18, 32}, std::pair{30, 31}}) {
    Json report = test::synthetic_report(6, 32, c, m);
    for (Json& t : report["tokens"]) t["critical_layer"] = c, t["mutation_layer"] = m;
    report["stages"]["final_norm_step"] = {{"layer", 32}, {"divergence", 0.3}, {"note", "hf lens"}};
    const std::string html = render_report_html(report);
    EXPECT_EQ(test::XmlCheck::check(html), "");
    expect_labels_apart_and_inside(html, "c " + std::to_string(c) + ", m " + std::to_string(m));
  }
}

TEST(RenderFocus, LogAxisLabelsKeepApart) {
  // p_token is exactly 0 at layer 0 (drawn at a floor above the lowest decade) and competitors
  // reach 1e-4: the y tick labels of every chart stay 15 px apart (10 px text; the axis spaces
  // decades 16 px apart at least).
  const std::string html = render_report_html(test::synthetic_report(4, 32, 18, 27));
  const std::regex tick("<text x=\"[-0-9.]+\" y=\"([-0-9.]+)\" class=\"tick\" text-anchor=\"end\">([^<]*)</text>");
  size_t charts = 0;
  for (size_t at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1)) {
    const std::string svg = html.substr(at, html.find("</svg>", at) - at);
    std::vector<std::pair<double, std::string>> ys;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tick); it != std::sregex_iterator(); ++it)
      ys.push_back({std::stod((*it)[1]), (*it)[2]});
    charts += !ys.empty();
    std::sort(ys.begin(), ys.end());
    for (size_t i = 1; i < ys.size(); ++i)
      EXPECT_GE(ys[i].first - ys[i - 1].first, 15.0) << ys[i - 1].second << " and " << ys[i].second << " collide";
  }
  EXPECT_GE(charts, 7u);
}

TEST(RenderFocus, EmptyAndWhitespacePiecesShowTheirIds) {
  Json report = test::synthetic_report(3, 8, 4, 6);
  report["tokens"][0]["piece"] = "";
  report["tokens"][1]["piece"] = " ";
  RenderOptions options;
  options.focus_step = 0;
  const std::string html = render_report_html(report, options);
  EXPECT_NE(html.find("Token #0 \xE2\x80\x9C<span class=\"piece\">id 1000</span>"), std::string::npos);
  EXPECT_NE(html.find(">\xE2\x90\xA3</text>"), std::string::npos) << "the space token's heatmap row label";
}

}  // namespace
}  // namespace lvlm
