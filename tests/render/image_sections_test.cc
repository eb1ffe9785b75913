// The page's image figures from a synthetic report: the patch grid per layer, its labels and
// shading, the layer buttons, the attention chart, and a hostile image URI left out.
#include <gtest/gtest.h>

#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/render.h"
#include "synthetic.h"
#include "test_util.h"
#include "xml_check.h"

namespace lvlm {
namespace {

using test::count;

// A 2x2 grid after a CLS over 32 layers: position p at layer l has top-1 id 100 + p with
// probability l / 32.
Json with_image_sections(Json report, const std::string& uri) {
  const int L = report["model"]["num_layers"].get<int>();
  Json layers = Json::array(), attention = Json::array();
  for (int l = 0; l <= L; ++l) {
    Json ids = Json::array(), probs = Json::array(), entropy = Json::array();
    for (int p = 0; p < 5; ++p) {
      ids.push_back({100 + p, 7});
      probs.push_back({l / double(L), 0.0});
      entropy.push_back(1.5);
    }
    layers.push_back({{"layer", l}, {"top_ids", ids}, {"top_probs", probs}, {"entropy", entropy}});
    if (l > 0)
      attention.push_back({{"layer", l}, {"image_share", {{"median", 0.5}, {"q1", 0.4}, {"q3", 0.6}}}});
  }
  ImageU8 img;
  img.width = img.height = 2;
  img.rgb.assign(12, 200);
  report["image_positions"] = {
      {"step", 0}, {"start", 5}, {"count", 5}, {"grid", {{"rows", 2}, {"cols", 2}, {"cls_first", true}}},
      {"input_size", {2, 2}}, {"original_size", {4, 4}},
      {"boxes", {{"original", {{0, 0, 4, 4}, {0, 0, 2, 2}, {2, 0, 4, 2}, {0, 2, 2, 4}, {2, 2, 4, 4}}}}},
      {"image", uri.empty() ? data_uri("image/bmp", encode_bmp(img)) : uri},
      {"pieces", {{"100", "cls<"}, {"101", "cat"}, {"102", "dog"}, {"103", "sky"}, {"104", "grass"}, {"7", "x"}}},
      {"layers", layers}};
  report["attention"] = {{"layers", attention}};
  return report;
}

TEST(RenderImageSections, PatchGridPerLayerWithButtonsAndAttentionChart) {
  const std::string html = render_report_html(with_image_sections(test::synthetic_report(6, 32, 18, 27), ""));
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("Logit lens on the image patches"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"il-g il-g"), 33u);     // one group per layer 0..32
  EXPECT_EQ(count(html, "name=\"il-layer\""), 33u);     // one button per layer
  EXPECT_EQ(count(html, "id=\"il-32\" checked=\"checked\""), 1u);  // layer L shown first
  EXPECT_EQ(count(html, "class=\"il-piece\""), 33u * 4);  // the CLS is not on the grid
  EXPECT_EQ(count(html, ">gras\xE2\x80\xA6<"), 33u);      // cut to four characters
  EXPECT_EQ(count(html, "il-cls il-cls"), 33u);           // the CLS line per layer, escaped
  EXPECT_NE(html.find("CLS: cls&lt;"), std::string::npos);
  EXPECT_EQ(count(html, "<image href=\"data:image/bmp;base64,"), 1u);  // the image once
  // Shaded by probability: layer 0 (p = 0) and layer 32 (p = 1) at the extremes of the opacity.
  EXPECT_NE(html.find("fill-opacity=\"0.15\""), std::string::npos);
  EXPECT_NE(html.find("fill-opacity=\"0.75\""), std::string::npos);
  EXPECT_NE(html.find("Attention to the image per layer"), std::string::npos);
}

// A patch in --pad-square's padding has an empty box in the original image: not drawn.
TEST(RenderImageSections, PatchesWithoutAreaAreLeftOut) {
  Json report = with_image_sections(test::synthetic_report(6, 32, 18, 27), "");
  report["image_positions"]["boxes"]["original"][2] = {4, 0, 4, 2};
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_EQ(count(html, "class=\"il-piece\""), 33u * 3);
  EXPECT_EQ(html.find(">dog<"), std::string::npos);
}

TEST(RenderImageSections, HostileImageUriIsLeftOut) {
  const std::string html = render_report_html(
      with_image_sections(test::synthetic_report(6, 32, 18, 27), "data:image/bmp;base64,AAAA\" onload=\"alert(1)"));
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_EQ(html.find("<image"), std::string::npos);
  EXPECT_EQ(html.find("alert"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"il-g il-g"), 33u);  // the grid is still drawn
}

// A real report of the tiny model with --positions all (tests/data/reports/image-report.json).
TEST(RenderImageSections, RealTinyReport) {
  const Json report = read_json_file(test::data_path("reports/image-report.json"));
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_EQ(count(html, "class=\"il-g il-g"), 5u);
  EXPECT_EQ(count(html, "class=\"il-piece\""), 5u * 16);
  EXPECT_EQ(count(html, "<image href=\"data:image/bmp;base64,"), 1u);
  // The attention chart has a dot for each of the 4 layers.
  const size_t chart = html.find("Attention of the predicting position to the image");
  ASSERT_NE(chart, std::string::npos);
  EXPECT_EQ(count(html.substr(chart, html.find("</svg>", chart) - chart), "<circle"), 4u);
}

TEST(RenderImageSections, DamagedSectionsNeitherCrashNorBlowUp) {
  Json report = with_image_sections(test::synthetic_report(6, 32, 18, 27), "");
  report["image_positions"]["grid"]["rows"] = 100000;  // would be 10^10 patches
  std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("does not match its count of 5 positions"), std::string::npos);
  EXPECT_EQ(html.find("class=\"il-g"), std::string::npos);
  // Wrong types inside the layers: drawn with what is there, no crash.
  report = with_image_sections(test::synthetic_report(6, 32, 18, 27), "");
  report["image_positions"]["layers"][3] = {{"layer", 3}, {"top_ids", "x"}, {"top_probs", 5}};
  report["image_positions"]["pieces"] = nullptr;
  html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_EQ(count(html, "class=\"il-g il-g"), 33u);
}

TEST(RenderImageSections, AbsentWithoutTheSections) {
  const std::string html = render_report_html(test::synthetic_report(6, 32, 18, 27));
  EXPECT_EQ(html.find("Logit lens on the image patches"), std::string::npos);
  EXPECT_EQ(html.find("Attention to the image"), std::string::npos);
}

}  // namespace
}  // namespace lvlm
