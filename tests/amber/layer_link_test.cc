// Object words traced to their tokens and summarised per group, on a hand-made report: the pieces
// spell "A man and two dogs.", with "dogs" split over two tokens.
#include <gtest/gtest.h>

#include "../../src/amber/layer_link.h"
#include "test_util.h"

namespace lvlm {
namespace {

// Token i has p_token = [0, 0.1 i, 0.2 i], d_prev = [null, i, 2 i], d_final = [i, i, 0].
Json synthetic_report() {
  const char* pieces[] = {" A", " man", " and", " two", " do", "gs", "."};
  Json tokens = Json::array();
  for (int i = 0; i < 7; ++i)
    tokens.push_back({{"step", i}, {"piece", pieces[i]}, {"p_token", {0.0, 0.1 * i, 0.2 * i}},
                      {"d_prev", {nullptr, 1.0 * i, 2.0 * i}}, {"d_final", {1.0 * i, 1.0 * i, 0.0}},
                      {"critical_layer", i == 4 ? Json() : Json(1)}, {"critical_confidence", 0.9},
                      {"mutation_layer", i == 1 ? Json(2) : Json()}, {"mutation_confidence", 0.7}});
  return {{"model", {{"num_layers", 2}}}, {"tokens", tokens}};
}

TEST(AmberLayerLink, EachObjectWordByItsFirstToken) {
  const AmberData amber = load_amber(test::data_path("amber"));
  const NounLemmatizer lemmas = NounLemmatizer::load(test::data_path("amber/wordnet"));
  // Annotation 6: man is in the image, dog is hallucination-prone.
  const Json linked = Json::parse(amber::link_objects(synthetic_report(), *amber.find(6), amber, lemmas, "r.json").dump());
  ASSERT_EQ(linked.size(), 2u);
  EXPECT_EQ(linked[0]["word"], "man");
  EXPECT_EQ(linked[0]["group"], "grounded");
  EXPECT_EQ(linked[0]["steps"], Json::array({1}));
  EXPECT_EQ(linked[0]["mutation_layer"], 2);
  EXPECT_EQ(linked[1]["word"], "dogs");
  EXPECT_EQ(linked[1]["lemma"], "dog");
  EXPECT_EQ(linked[1]["group"], "hallucinated");
  EXPECT_EQ(linked[1]["steps"], Json::array({4, 5}));
  EXPECT_EQ(linked[1]["step"], 4);
  EXPECT_EQ(linked[1]["piece"], " do");
  EXPECT_TRUE(linked[1]["critical_layer"].is_null());
  EXPECT_DOUBLE_EQ(linked[1]["p_token"][2].get<double>(), 0.8);
}

TEST(AmberLayerLink, GroupQuartilesAndBoundaryHistograms) {
  amber::GroupLayers group(2);
  const Json report = synthetic_report();
  for (int i : {1, 2, 3, 4}) group.add(report["tokens"][i]);  // p_token at layer 2: 0.2, 0.4, 0.6, 0.8
  const Json j = Json::parse(group.json().dump());
  EXPECT_EQ(j["mentions"], 4);
  const Json& layer2 = j["layers"][2]["p_token"];
  EXPECT_NEAR(layer2["median"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(layer2["q1"].get<double>(), 0.35, 1e-12);  // numpy: 0.2 + 0.75 * 0.2
  EXPECT_NEAR(layer2["q3"].get<double>(), 0.65, 1e-12);
  EXPECT_TRUE(j["layers"][0]["d_prev"].is_null());  // no value at layer 0
  EXPECT_EQ(j["critical_layer"]["histogram"], Json::array({0, 3, 0}));
  EXPECT_EQ(j["critical_layer"]["undetermined"], 1);
  EXPECT_EQ(j["mutation_layer"]["histogram"], Json::array({0, 0, 1}));
  EXPECT_EQ(j["mutation_layer"]["absent"], 3);
}

TEST(AmberLayerLink, ATokenWithoutItsPieceIsNamed) {
  const AmberData amber = load_amber(test::data_path("amber"));
  Json report = synthetic_report();
  report["tokens"][3].erase("piece");
  const std::string message = test::input_error_of(
      [&] { amber::link_objects(report, *amber.find(6), amber, NounLemmatizer(), "run/reports/6.json"); });
  EXPECT_NE(message.find("run/reports/6.json: tokens[3]: no 'piece'"), std::string::npos) << message;
}

}  // namespace
}  // namespace lvlm
