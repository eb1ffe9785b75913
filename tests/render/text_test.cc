// Escaping, number formatting and the colour scale of the render module (src/render/text.cc,
// style.cc).
#include <gtest/gtest.h>

#include <cstdlib>

#include "../../src/render/html.h"

namespace lvlm::render {
namespace {

TEST(RenderText, EscapeMakesAnyBytesSafeText) {
  EXPECT_EQ(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(escape("caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(escape(std::string("a\0b", 3)), "a" + fffd + "b");
  EXPECT_EQ(escape("\xff"), fffd);
  EXPECT_EQ(escape("\xC0\xAF"), fffd + fffd);        // overlong '/'
  EXPECT_EQ(escape("\xED\xA0\x80"), fffd + fffd + fffd);  // a UTF-16 surrogate
  EXPECT_EQ(escape("\xE2\x96"), fffd + fffd);        // cut short
  EXPECT_EQ(escape("line\nnext\ttab"), "line\nnext\ttab");
}

TEST(RenderText, TokenLabelShowsWhitespaceAndCuts) {
  EXPECT_EQ(token_label("\n"), "\\n");
  EXPECT_EQ(token_label(" a\tb\x7f"), " a\\tb\\x7F");
  EXPECT_EQ(token_label("<0x0A>"), "&lt;0x0A&gt;");
  EXPECT_EQ(token_label("abcdef", 3), "abc\xE2\x80\xA6");
  EXPECT_EQ(token_label("\xC3\xA9\xC3\xA9\xC3\xA9", 2), "\xC3\xA9\xC3\xA9\xE2\x80\xA6");  // counts characters
  EXPECT_EQ(token_label("abc", 3), "abc");
}

TEST(RenderText, ExactNumbersParseBackExactly) {
  for (double v : {0.1, 1.0 / 3, 2.4842764864509765e-09, 0.6931471805599453, 1e-300, 123456789.125}) {
    const std::string s = exact(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
    EXPECT_LE(s.size(), 24u);
  }
  EXPECT_EQ(exact(0.55), "0.55");  // shortest form, not 17 digits
  EXPECT_EQ(px(12.0), "12");
  EXPECT_EQ(px(12.345), "12.3");
  EXPECT_EQ(px(-0.01), "0");
}

// Relative luminance (sRGB, ITU-R BT.709 weights) of "#rrggbb".
double luminance(const std::string& hex) {
  auto channel = [&](int i) {
    const double c = std::strtol(hex.substr(1 + 2 * i, 2).c_str(), nullptr, 16) / 255.0;
    return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

TEST(RenderColour, ViridisLuminanceRisesMonotonically) {
  EXPECT_EQ(viridis(0), "#440154");
  EXPECT_EQ(viridis(1), "#fde725");
  EXPECT_EQ(viridis(-3), "#440154");
  EXPECT_EQ(viridis(NAN), "#440154");
  // Strictly rising over the levels the heatmap draws: a grey-scale print keeps their order.
  double last = -1;
  for (int k = 0; k < kColourLevels; ++k) {
    const double l = luminance(viridis(k / double(kColourLevels - 1)));
    EXPECT_GT(l, last) << "level " << k;
    last = l;
  }
  // Finer than that, 8-bit rounding may wobble by a hair, never more.
  last = -1;
  for (int i = 0; i <= 1000; ++i) {
    const double l = luminance(viridis(i / 1000.0));
    EXPECT_GT(l, last - 1e-3) << "at " << i / 1000.0;
    last = l;
  }
}

TEST(RenderColour, StageBandsDifferInLightness) {
  const double rapid = luminance(stage_fill("rapid_evolution")), stable = luminance(stage_fill("stabilization")),
               mutation = luminance(stage_fill("mutation"));
  EXPECT_GT(stable - rapid, 0.1);
  EXPECT_GT(rapid - mutation, 0.1);
}

TEST(RenderStages, BandsFromBoundaries) {
  const auto bands = bands_for(18, 27, 32);
  ASSERT_EQ(bands.size(), 3u);
  EXPECT_EQ(bands[1].name, "stabilization");
  EXPECT_EQ(bands[1].first, 19);
  EXPECT_EQ(bands[1].last, 26);
  EXPECT_EQ(bands_for(5, 6, 8).size(), 2u);  // empty stabilization is left out
  EXPECT_EQ(stage_of(bands, 0), "embedding");
  EXPECT_EQ(stage_of(bands, 27), "mutation");
  const Stages s = read_stages(Json{{"critical_layer", 18}, {"mutation_layer", 27}}, 32);
  EXPECT_EQ(stages_text(s), "rapid evolution 1\xE2\x80\x93" "18 \xC2\xB7 stabilization 19\xE2\x80\x93" "26 \xC2\xB7 mutation 27\xE2\x80\x93" "32");
}

TEST(RenderStages, UndeterminedAndAbsentDrawNoBand) {
  EXPECT_TRUE(bands_for(std::nullopt, 27, 32).empty());  // no c: nothing is coloured
  const auto no_jump = bands_for(18, std::nullopt, 32);  // no m: stabilization runs to L
  ASSERT_EQ(no_jump.size(), 2u);
  EXPECT_EQ(no_jump[1].name, "stabilization");
  EXPECT_EQ(no_jump[1].last, 32);
  const Stages undetermined = read_stages(Json{{"critical_layer", nullptr}, {"mutation_layer", nullptr},
                                               {"critical_confidence", 0.05}, {"segments", Json::array()}}, 32);
  EXPECT_FALSE(undetermined.critical);
  EXPECT_TRUE(undetermined.bands.empty());
  EXPECT_EQ(stages_text(undetermined), "critical layer undetermined");
  EXPECT_EQ(stage_marks(undetermined, true).size(), 0u);
  const Stages absent = read_stages(Json{{"critical_layer", 18}, {"mutation_layer", nullptr}}, 32);
  EXPECT_EQ(stages_text(absent), "rapid evolution 1\xE2\x80\x93" "18 \xC2\xB7 stabilization 19\xE2\x80\x93" "32 \xC2\xB7 mutation absent");
  // report/1's single confidence is the critical layer's.
  EXPECT_EQ(read_stages(Json{{"critical_layer", 18}, {"mutation_layer", 27}, {"confidence", 0.7}}, 32).critical_confidence, 0.7);
}

TEST(RenderStages, FinalNormStepIsAMarkOfItsOwn) {
  const Stages s = read_stages(Json{{"critical_layer", 18}, {"mutation_layer", 27},
                                    {"final_norm_step", {{"layer", 32}, {"divergence", 0.4}, {"note", "hf lens"}}}}, 32);
  const auto marks = stage_marks(s, false);
  ASSERT_EQ(marks.size(), 3u);
  EXPECT_EQ(marks[2].layer, 32);
  EXPECT_STREQ(marks[2].cls, "fnmark");
  EXPECT_EQ(s.bands.back().name, "mutation");  // the step changes no stage
}

TEST(RenderText, EmptyAndWhitespacePiecesAreVisible) {
  EXPECT_EQ(piece_label(Json(""), Json(1234)), "id 1234");
  EXPECT_EQ(piece_label(Json(nullptr), Json(7)), "id 7");
  EXPECT_EQ(piece_label(Json("  "), Json(1)), "\xE2\x90\xA3\xE2\x90\xA3");
  EXPECT_EQ(piece_label(Json("\n"), Json(1)), "\\n");
  EXPECT_EQ(piece_label(Json(" cat"), Json(1)), " cat");  // a word keeps its leading space
}

}  // namespace
}  // namespace lvlm::render
