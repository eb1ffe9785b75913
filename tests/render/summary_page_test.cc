// The summary page (draft schema lvlm-probe/summary/1): well-formed, histogram bars equal the
// counts, one point per image and layer, coloured by stage, and tolerant of missing parts.
#include <gtest/gtest.h>

#include "lvlm_probe/common.h"
#include "lvlm_probe/render.h"
#include "synthetic.h"
#include "xml_check.h"

namespace lvlm {
namespace {

using test::count;

TEST(RenderSummaryHtml, PageIsWellFormedWithEveryPart) {
  const Json summary = test::synthetic_summary(20, 32, 18, 27);
  const std::string html = render_html(summary);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  for (const char* want : {"21 items: 20 probed, 1 failed", "runs/amber-0", "Stages at a glance",
                           "Probability of the emitted token", "Cosine to the last layer",
                           "Where the per-token boundaries fall", "Features across images (step 0)", "2-D t-SNE"})
    EXPECT_NE(html.find(want), std::string::npos) << want;
}

TEST(RenderSummaryHtml, HistogramBarsEqualTheCounts) {
  const Json summary = test::synthetic_summary(20, 32, 18, 27);
  const std::string html = render_summary_html(summary);
  for (const char* key : {"critical_layer", "mutation_layer"}) {
    const Json& counts = summary["histograms"][key];
    const std::string name = std::string(key) == "critical_layer" ? "critical layer" : "mutation layer";
    for (int l = 0; l <= 32; ++l) {
      const std::string bar = "<title>" + name + " \xC2\xB7 layer " + std::to_string(l) + ": " +
                              counts[l].dump() + "</title>";
      // Zero-count layers draw no bar.
      EXPECT_EQ(count(html, bar), counts[l].get<int>() > 0 ? 1u : 0u) << bar;
    }
  }
}

TEST(RenderSummaryHtml, OnePointPerImageAndLayerColouredByStage) {
  const Json summary = test::synthetic_summary(10, 32, 18, 27);
  const std::string html = render_summary_html(summary);
  EXPECT_EQ(count(html, "<title>AMBER_"), 10u * 33u);
  EXPECT_EQ(count(html, " \xC2\xB7 layer 0</title></path>"), 10u);  // layer 0: its own shape (diamond)
  EXPECT_EQ(count(html, " \xC2\xB7 layer 5</title></circle>"), 10u);  // rapid evolution: circles
  EXPECT_EQ(count(html, " \xC2\xB7 layer 20</title></rect>"), 10u);   // stabilization: squares
}

TEST(RenderSummaryHtml, ManyPointsAreThinned) {
  const Json summary = test::synthetic_summary(1000, 80, 45, 68);  // 81,000 points
  const std::string html = render_summary_html(summary);
  EXPECT_NE(html.find("Every 5th of 81000 points drawn."), std::string::npos);
  EXPECT_LT(html.size(), 8u << 20);
  EXPECT_EQ(test::XmlCheck::check(html), "");
}

TEST(RenderSummaryHtml, ToleratesMissingOptionalParts) {
  const Json minimal = {{"schema", "lvlm-probe/summary/1"}, {"model", {{"num_layers", 32}}},
                        {"stages", {{"critical_layer", 18}, {"mutation_layer", 27}}}};
  const std::string html = render_summary_html(minimal);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("stabilization 19\xE2\x80\x93" "26"), std::string::npos);
  EXPECT_EQ(html.find("Features across images"), std::string::npos);

  Json partial = test::synthetic_summary(5, 16, 8, 12);
  partial.erase("histograms");
  partial["features"].erase("embedding");
  partial["layers"][3]["entropy"] = nullptr;
  partial["layers"][4].erase("p_token");
  EXPECT_EQ(test::XmlCheck::check(render_summary_html(partial)), "");
}

TEST(RenderSummaryHtml, FailedItemsAreListedWithTheirReasons) {
  Json summary = test::synthetic_summary(5, 16, 8, 12);
  summary["items"]["failures"] = {{{"run", 0}, {"id", "AMBER_9"}, {"error", "images/9.jpg: not a JPEG"}}};
  std::string html = render_summary_html(summary);
  EXPECT_NE(html.find("Failed items (1)"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>runs/amber-0</td><td class=\"mono\">AMBER_9</td><td>images/9.jpg: not a JPEG</td></tr>"),
            std::string::npos);
  // failed_items (with `reason`) wins over the older items.failures.
  summary["failed_items"] = {{{"run", 1}, {"id", "AMBER_3"}, {"reason", "out of memory <at> step 2"}},
                             {{"run", 7}, {"id", "AMBER_4"}, {"reason", nullptr}}};
  html = render_summary_html(summary);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("Failed items (2)"), std::string::npos);
  EXPECT_NE(html.find("<td>runs/amber-1</td><td class=\"mono\">AMBER_3</td><td>out of memory &lt;at&gt; step 2</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td>7</td><td class=\"mono\">AMBER_4</td><td>(no reason given)</td>"), std::string::npos);
  EXPECT_EQ(html.find("AMBER_9"), std::string::npos);
  summary.erase("failed_items");
  summary["items"]["failures"] = Json::array();
  EXPECT_EQ(render_summary_html(summary).find("Failed items"), std::string::npos);
}

TEST(RenderSummaryHtml, SkipAgreementIsSummarisedAcrossItems) {
  Json summary = test::synthetic_summary(5, 16, 8, 12);
  Json per_item = Json::array();
  for (int i = 0; i < 4; ++i)
    per_item.push_back({{"run", 0}, {"id", "AMBER_" + std::to_string(i)}, {"mode", "stabilization"}, {"layers", {9, 10, 11}},
                        {"identical", i != 2}, {"matching_prefix", i == 2 ? 3 : 12},
                        {"position_agreement", i == 2 ? 0.25 : 1.0}, {"token_overlap", i == 2 ? 0.5 : 1.0}});
  summary["skip"] = {{"items", 4}, {"identical", 3},
                     {"position_agreement", {{"mean", 0.8125}, {"median", 1.0}, {"q1", 0.8125}, {"q3", 1.0}, {"min", 0.25}, {"max", 1.0}}},
                     {"token_overlap", nullptr}, {"matching_prefix", nullptr}, {"per_item", per_item}};
  const std::string html = render_summary_html(summary);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("3 of 4 items (75 %) give the same output"), std::string::npos);
  EXPECT_NE(html.find("median 1 (quartiles 0.8125\xE2\x80\x93" "1, min 0.25)"), std::string::npos);
  // The least agreeing item first.
  EXPECT_LT(html.find("AMBER_2</td>"), html.find("AMBER_0</td>"));
  EXPECT_EQ(render_summary_html(test::synthetic_summary(5, 16, 8, 12)).find("Skipped layers"), std::string::npos);
}

TEST(RenderSummaryHtml, RejectsOtherSchemas) {
  Json summary = test::synthetic_summary(3, 8, 4, 6);
  summary["schema"] = "lvlm-probe/summary/9";
  EXPECT_THROW(render_summary_html(summary), InputError);
  EXPECT_THROW(render_html(summary), InputError);
  const Json no_layers = {{"schema", "lvlm-probe/summary/1"}};
  EXPECT_THROW(render_summary_html(no_layers), InputError);
}

}  // namespace
}  // namespace lvlm
