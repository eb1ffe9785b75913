// The report page as a whole: well-formed, hostile text inert, wrong schemas refused, the focus
// token chosen as documented, the header complete, and the real demo report rendered.
#include <gtest/gtest.h>

#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/render.h"
#include "synthetic.h"
#include "test_util.h"
#include "xml_check.h"

namespace lvlm {
namespace {

using test::count;

// Heatmap cells: elements whose class starts with an absolute-view level "a<digit>".
size_t count_cells(const std::string& html) {
  size_t n = 0;
  for (size_t at = html.find(" class=\"a"); at != std::string::npos; at = html.find(" class=\"a", at + 1))
    n += std::isdigit(static_cast<unsigned char>(html[at + 9])) != 0;
  return n;
}

TEST(RenderReportHtml, PageIsWellFormedAndSelfContained) {
  const std::string html = render_report_html(test::synthetic_report(20, 32, 18, 27));
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // Nothing is fetched: no scripts, no external stylesheets, images or fonts.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(count(html, "http"), count(html, "xmlns=\"http://www.w3.org/")) << "only namespace names";
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("url(http"), std::string::npos);
}

TEST(RenderReportHtml, HeaderShowsRunAndStages) {
  Json report = test::synthetic_report(5, 32, 18, 27);
  report["skip"] = {{"mode", "stabilization"}, {"layers", {19, 20, 21}}, {"token_ids", {1, 2}}, {"text", "a cat"},
                    {"stop_reason", "eos"},
                    {"agreement", {{"identical", false}, {"matching_prefix", 1}, {"position_agreement", 0.5},
                                   {"token_overlap", 0.75}}}};
  const std::string html = render_report_html(report);
  for (const char* want : {"synthetic/llava-1.5-7b", "images/cat.jpg", "Describe the image.", "confidence <b>0.91</b>",
                           "rapid evolution 1\xE2\x80\x93" "18", "stabilization 19\xE2\x80\x93" "26",
                           "mutation 27\xE2\x80\x93" "32", "lens: norm", "token_overlap 0.75", "total 5.6 s",
                           "a cat"})
    EXPECT_NE(html.find(want), std::string::npos) << want;
}

TEST(RenderReportHtml, HostileTokenPiecesAreInert) {
  Json report = test::synthetic_report(6, 8, 4, 6);
  const char* hostile[] = {"</svg><script>alert(1)</script>", "&", "\"'", "<s>", "a\nb\x01", "\xff\xfe bad utf8"};
  for (int t = 0; t < 6; ++t) {
    report["tokens"][t]["piece"] = hostile[t];
    report["tokens"][t]["topk"][8]["pieces"][0] = hostile[t];
  }
  report["output"]["text"] = "</title><script>x</script>";
  report["input"]["prompt"] = "<img src=x onerror=alert(1)>";
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");  // also: valid UTF-8, no control characters
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<s>"), std::string::npos);
  EXPECT_NE(html.find("&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;s&gt;"), std::string::npos);
  EXPECT_NE(html.find("&quot;&#39;"), std::string::npos);
  EXPECT_NE(html.find("a\\nb\\x01"), std::string::npos) << "newline and control shown, not raw";
  EXPECT_NE(html.find("\\xFF\\xFE bad utf8"), std::string::npos) << "stray bytes shown as escapes";
}

TEST(RenderReportHtml, RejectsOtherSchemas) {
  Json report = test::synthetic_report(2, 4, 1, 3);
  report["schema"] = "lvlm-probe/report/9";
  EXPECT_THROW(render_report_html(report), InputError);
  EXPECT_THROW(render_html(report), InputError);
  report["schema"] = "something/else";
  EXPECT_THROW(render_html(report), InputError);
  report.erase("schema");
  EXPECT_THROW(render_html(report), InputError);
  EXPECT_THROW(render_html(Json::array()), InputError);
  Json broken = test::synthetic_report(2, 4, 1, 3);
  broken["tokens"][1]["d_prev"] = {0.1};  // wrong length
  EXPECT_THROW(render_report_html(broken), InputError);
  std::string message;
  try {
    render_html(Json{{"schema", "x/1"}});
  } catch (const InputError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("lvlm-probe/report/"), std::string::npos) << message;
}

TEST(RenderReportHtml, FocusIsTheLargestMutationJumpUnlessGiven) {
  Json report = test::synthetic_report(6, 16, 8, 12);
  report["tokens"][4]["d_prev"][report["tokens"][4]["mutation_layer"].get<int>()] = 0.69;
  EXPECT_NE(render_report_html(report).find("<h2>Token #4 "), std::string::npos);
  RenderOptions options;
  options.focus_step = 3;
  const std::string html = render_report_html(report, options);
  EXPECT_NE(html.find("<h2>Token #3 "), std::string::npos);
  // Its curves: the emitted token and the stabilization layers' winner, with a legend.
  EXPECT_NE(html.find("(emitted) \xC2\xB7 layer 0: "), std::string::npos);
  EXPECT_NE(html.find("\xE2\x80\x9C a" "s\xE2\x80\x9D \xC2\xB7 layer 9: 0.55</title>"), std::string::npos);
  options.focus_step = 6;
  EXPECT_THROW(render_report_html(report, options), UsageError);
}

TEST(RenderReportHtml, TopkTableHasExactNumbersOnHover) {
  const Json report = test::synthetic_report(3, 8, 4, 6);
  RenderOptions options;
  options.focus_step = 0;
  const std::string html = render_report_html(report, options);
  const Json& top = report["tokens"][0]["topk"][7];
  const std::string cell = "title=\"id " + top["ids"][0].dump() + " \xC2\xB7 p = " + top["probs"][0].dump() + "\"";
  EXPECT_NE(html.find(cell), std::string::npos) << cell;
  EXPECT_EQ(count(html, "<td class=\"stage\">"), 9u);  // layers 0..8
}

// validate_report checks what every reader needs; the rest may come from another version or be
// damaged, and must neither crash the renderer nor break the page.
TEST(RenderReportHtml, SurvivesOddTypesOutsideTheValidatedCore) {
  Json report = test::synthetic_report(4, 8, 4, 6);
  report["tokens"][0]["critical_layer"] = "eighteen";
  report["tokens"][0]["mutation_layer"] = 99;
  report["tokens"][1]["topk"] = 7;
  report["tokens"][2]["topk"][3] = {{"ids", {"x", nullptr}}, {"pieces", 5}, {"probs", {"p"}}};
  report["tokens"][3].erase("rank");
  report["tokens"][3]["piece"] = Json::array();
  report["layers"] = {{"not", "an array"}};
  report["stages"]["segments"] = {{{"name", 3}, {"first_layer", -5}, {"last_layer", 400}}};
  report["stages"]["aggregate_curve"] = {1, 2};
  report["stages"]["confidence"] = "high";
  report["settings"] = "odd";
  report["timing"] = nullptr;
  report["skip"] = {{"agreement", 3}};
  report["input"] = 12;
  report.erase("tool");
  for (int focus : {-1, 0, 1, 2, 3}) {
    RenderOptions options;
    options.focus_step = focus;
    EXPECT_EQ(test::XmlCheck::check(render_report_html(report, options)), "") << "focus " << focus;
  }
}

TEST(RenderReportHtml, NoTokensStillRenders) {
  Json report = test::synthetic_report(1, 8, 4, 6);
  report["tokens"] = Json::array();
  report["output"]["token_ids"] = Json::array();
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("No generated tokens"), std::string::npos);
}

TEST(RenderReportHtml, RendersTheRealDemoReport) {
  const Json report = read_json_file(test::data_path("reports/demo-report.json"));
  const std::string html = render_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  const int L = report["model"]["num_layers"].get<int>();
  EXPECT_EQ(count_cells(html), report["tokens"].size() * L);
  EXPECT_NE(html.find(report["input"]["image_sha256"].get<std::string>()), std::string::npos);
}

// Band colours in a page: rapid evolution, stabilization, mutation.
size_t bands_of(const std::string& html, const char* fill) { return count(html, std::string("fill=\"") + fill + "\""); }

TEST(RenderReportHtml, Report2OutcomesWithConfidences) {
  const Json report = test::report_v2(test::synthetic_report(5, 32, 18, 27), 18, 27, 0.83, 0.64);
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("critical layer <b>18</b> (confidence <b>0.83</b>)"), std::string::npos);
  EXPECT_NE(html.find("mutation layer <b>27</b> (confidence <b>0.64</b>)"), std::string::npos);
  EXPECT_GT(bands_of(html, "#eaa6bf"), 0u);
}

TEST(RenderReportHtml, UndeterminedCriticalLayerDrawsNoBandAnywhere) {
  const Json report = test::report_v2(test::synthetic_report(5, 32, 18, 27), -1, -1, 0.04, 0.0);
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  for (const char* fill : {"#fbd7a4", "#e9f0f8", "#eaa6bf"}) EXPECT_EQ(bands_of(html, fill), 0u) << fill;
  EXPECT_NE(html.find("critical layer undetermined</span> no knee"), std::string::npos);
  EXPECT_NE(html.find("critical layer undetermined: no stages drawn"), std::string::npos);  // heatmap strip
  EXPECT_EQ(count(html, "class=\"mc\""), 1u);  // only the legend's sample: no token has a c
  EXPECT_EQ(count(html, "class=\"stageline\""), 0u);
  EXPECT_NE(html.find("<td class=\"num\">undetermined</td>"), std::string::npos);  // token table
}

TEST(RenderReportHtml, AbsentMutationDrawsNoMutationBand) {
  const Json report = test::report_v2(test::synthetic_report(5, 32, 18, 27), 18, -1, 0.9, 0.02);
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_EQ(bands_of(html, "#eaa6bf"), 0u);  // no pink band over the plateau
  EXPECT_GT(bands_of(html, "#e9f0f8"), 0u);
  EXPECT_NE(html.find("mutation absent</span> no jump after the plateau above its noise (confidence <b>0.02</b>)"),
            std::string::npos);
  EXPECT_NE(html.find("stabilization 19\xE2\x80\x93" "32"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">absent</td>"), std::string::npos);
}

TEST(RenderReportHtml, HfFinalNormStepIsMarkedAsSuch) {
  Json report = test::report_v2(test::synthetic_report(5, 32, 18, 27), 18, 27);
  report["settings"]["lens"] = "hf";
  report["stages"]["final_norm_step"] = {{"layer", 32}, {"divergence", 0.31}, {"note", "excluded from the mutation search"}};
  const std::string html = render_report_html(report);
  EXPECT_EQ(test::XmlCheck::check(html), "");
  EXPECT_NE(html.find("Final-norm step at layer 32 (divergence 0.31)"), std::string::npos);
  EXPECT_NE(html.find("excluded from the mutation search"), std::string::npos);
  EXPECT_GT(count(html, "class=\"fnmark\""), 0u);  // the line charts
  EXPECT_EQ(count(html, "class=\"fnline\""), 1u);  // the heatmap
  EXPECT_NE(html.find(">final-norm step</text>"), std::string::npos);
}

TEST(RenderXmlCheck, CatchesWhatItShould) {
  EXPECT_EQ(test::XmlCheck::check("<!DOCTYPE html>\n<a x=\"1\"><b/>t &amp; &#39;</a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a><b></a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a x=1></a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a x=\"1\" x=\"2\"></a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a>&nbsp;</a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a>1 < 2</a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a title=\"<\"></a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a></a><b></b>"), "");
  EXPECT_NE(test::XmlCheck::check("<a>\x01</a>"), "");
  EXPECT_NE(test::XmlCheck::check("<a>\xff</a>"), "");
}

}  // namespace
}  // namespace lvlm
