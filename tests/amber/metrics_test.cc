// AMBER's metrics on hand-computed cases (tests/data/amber: annotations 6-15). Each expected value
// follows inference.py's steps by hand; the comments give them.
#include <gtest/gtest.h>

#include "lvlm_probe/amber.h"
#include "test_util.h"

namespace lvlm {
namespace {

struct Fixture {
  AmberData amber = load_amber(test::data_path("amber"));
  NounLemmatizer lemmas = NounLemmatizer::load(test::data_path("amber/wordnet"));
  GenerativeScore score(int id, const std::string& answer) const {
    return score_generative(answer, *amber.find(id), amber, lemmas);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

std::vector<std::string> lemmas_of(const GenerativeScore& s) {
  std::vector<std::string> out;
  for (const auto& o : s.objects) out.push_back(o.lemma);
  return out;
}

std::vector<std::string> verdicts_of(const GenerativeScore& s) {
  std::vector<std::string> out;
  for (ObjectVerdict v : s.verdicts) out.push_back(verdict_name(v));
  return out;
}

// Annotation 6: truth man, tree, grass; hallu dog, car, bench.
const char* kAnswer6 =
    "A man walks his dogs past the trees. People sit on a chair near the car, under a cloudy sky with a light.";
// Annotation 7: truth person, forest; hallu cat.
const char* kAnswer7 = "Two women stand among the leaves and bushes of the forest.";
// Annotation 8: truth ground; hallu dog.
const char* kAnswer8 = "Grass grows on the floor; a cat sleeps on the grass.";

TEST(AmberObjects, VocabularyWordsByTheirLemmas) {
  const GenerativeScore s = fixture().score(6, kAnswer6);
  // "walks", "cloudy" are no objects; "People" keeps its capital (NLTK's lemmatizer does) and is not
  // in the vocabulary.
  EXPECT_EQ(lemmas_of(s), (std::vector<std::string>{"man", "dog", "tree", "chair", "car", "sky", "light"}));
  const std::string text = kAnswer6;
  EXPECT_EQ(text.substr(s.objects[1].begin, s.objects[1].end - s.objects[1].begin), "dogs");
  EXPECT_EQ(s.objects[1].word, "dogs");
}

TEST(AmberObjects, MultiWordEntriesMatchLongestFirst) {
  AmberData amber = fixture().amber;
  amber.vocabulary.insert("traffic light");
  amber.max_words = 2;
  const auto objects = find_objects("A car stops at two traffic lights.", amber, fixture().lemmas);
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[1].lemma, "traffic light");
  EXPECT_EQ(objects[1].word, "traffic lights");
}

TEST(AmberObjects, TheModalCanIsNoObject) {
  const std::string text = "You can see a can of soda and two cans. It can be opened. Soda can, bin.";
  const auto objects = find_objects(text, fixture().amber, fixture().lemmas);
  std::vector<size_t> at;
  for (const auto& o : objects) at.push_back(o.begin);
  // "a can", "cans", "can," and "bin"; not "can see", "can be".
  EXPECT_EQ(lemmas_of(GenerativeScore{objects, {}, {}, {}}), (std::vector<std::string>{"can", "can", "can", "bin"}));
  EXPECT_EQ(at, (std::vector<size_t>{text.find("can of"), text.find("cans"), text.find("can,"), text.find("bin")}));
}

TEST(AmberGenerative, VerdictsAndCoverageOfOneAnswer) {
  const GenerativeScore s = fixture().score(6, kAnswer6);
  // man, tree: truth. dog: exact hallu (covers dog), related to nothing in the truth. chair: bench's
  // relation word (covers bench). car: exact hallu. sky: in no list. light: a safe word.
  EXPECT_EQ(verdicts_of(s), (std::vector<std::string>{"grounded", "hallucinated", "grounded", "hallucinated",
                                                      "hallucinated", "hallucinated", "safe_word"}));
  EXPECT_EQ(s.truth_covered, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(s.hallu_covered, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(s.hallucinated(), 4u);
}

TEST(AmberGenerative, RelationWordsCoverTheirObject) {
  // women -> woman, a relation word of person: covers person. "leaves" -> leaf (NLTK's shortest
  // lemma), not AMBER's "leave": no object. bushes -> bush, forest's relation word.
  const GenerativeScore s = fixture().score(7, kAnswer7);
  EXPECT_EQ(lemmas_of(s), (std::vector<std::string>{"woman", "bush", "forest"}));
  EXPECT_EQ(verdicts_of(s), (std::vector<std::string>{"grounded", "grounded", "grounded"}));
  EXPECT_EQ(s.truth_covered, (std::vector<bool>{true, true}));
  EXPECT_EQ(s.hallu_covered, (std::vector<bool>{false}));
}

TEST(AmberGenerative, RelationStandsInForWordVectors) {
  // floor: ground's relation word. grass lists ground: related, so grounded (the similarity step).
  // cat and dog are not related in relation.json (spaCy's vectors put them at about 0.8).
  const GenerativeScore s = fixture().score(8, kAnswer8);
  EXPECT_EQ(lemmas_of(s), (std::vector<std::string>{"floor", "cat", "grass"}));
  EXPECT_EQ(verdicts_of(s), (std::vector<std::string>{"grounded", "hallucinated", "grounded"}));
  EXPECT_EQ(s.hallu_covered, (std::vector<bool>{false}));
  EXPECT_TRUE(related_objects("grass", "ground", fixture().amber));
  EXPECT_TRUE(related_objects("ground", "grass", fixture().amber));
  EXPECT_FALSE(related_objects("cat", "dog", fixture().amber));
}

TEST(AmberGenerative, DuplicateTruthEntriesAreCoveredOnce) {
  // Annotation 9 lists dog twice; every mention finds the first entry, as inference.py's loop does.
  const GenerativeScore s = fixture().score(9, "Two dogs and a dog.");
  EXPECT_EQ(s.truth_covered, (std::vector<bool>{true, false}));
}

TEST(AmberGenerative, FiguresOverAnswers) {
  GenerativeTotals t;
  t.add(fixture().score(6, kAnswer6));  // 7 objects, 4 hallucinated; truth 2 of 3; hallu 3 of 3
  t.add(fixture().score(7, kAnswer7));  // 3 objects, 0 hallucinated; truth 2 of 2; hallu 0 of 1
  t.add(fixture().score(8, kAnswer8));  // 3 objects, 1 hallucinated; truth 1 of 1; hallu 0 of 1
  EXPECT_EQ(t.objects, 13u);
  EXPECT_NEAR(*t.chair(), 100.0 * 5 / 13, 1e-12);
  EXPECT_NEAR(*t.cover(), 100.0 * 5 / 6, 1e-12);
  EXPECT_NEAR(*t.hal(), 100.0 * 2 / 3, 1e-12);
  EXPECT_NEAR(*t.cog(), 100.0 * 3 / 5, 1e-12);
  EXPECT_FALSE(GenerativeTotals().chair().has_value());
}

TEST(AmberYesNo, AnswersParsedByTheirFirstWord) {
  EXPECT_EQ(yes_no_answer("Yes, there is."), "yes");
  EXPECT_EQ(yes_no_answer(" NO."), "no");
  EXPECT_EQ(yes_no_answer("no"), "no");
  EXPECT_EQ(yes_no_answer("Nope"), "");
  EXPECT_EQ(yes_no_answer("I cannot tell."), "");
  EXPECT_EQ(discriminative_group("discriminative-hallucination"), "existence");
  EXPECT_EQ(discriminative_group("discriminative-attribute-number"), "number");
  EXPECT_EQ(discriminative_group("relation"), "relation");
}

TEST(AmberYesNo, AccuracyPrecisionRecallWithNoAsPositive) {
  const Fixture& f = fixture();
  const std::pair<int, const char*> answers[] = {{10, "Yes, there is."}, {11, "No."}, {12, "Yes"},
                                                 {13, "no"}, {14, "I cannot tell."}, {15, "NO, there are two."}};
  YesNoTotals all, existence;
  for (const auto& [id, text] : answers) {
    const AmberAnnotation& a = *f.amber.find(id);
    all.add(a.answer, yes_no_answer(text));
    if (discriminative_group(a.type) == "existence") existence.add(a.answer, yes_no_answer(text));
  }
  // Right: 10, 11, 15. "no" answers: 11, 13, 15, of which 11 and 15 are right; "no" truths: 11,
  // 12, 14, 15.
  EXPECT_EQ(all.unparsed, 1u);
  EXPECT_NEAR(*all.accuracy(), 50.0, 1e-12);
  EXPECT_NEAR(*all.precision(), 100.0 * 2 / 3, 1e-12);
  EXPECT_NEAR(*all.recall(), 50.0, 1e-12);
  EXPECT_NEAR(*all.f1(), 2 * (200.0 / 3) * 50 / (200.0 / 3 + 50), 1e-12);
  EXPECT_NEAR(*existence.accuracy(), 100.0 * 2 / 3, 1e-12);
  EXPECT_NEAR(*existence.precision(), 100.0, 1e-12);
  EXPECT_NEAR(*existence.recall(), 50.0, 1e-12);
}

TEST(AmberData, BadFilesAreNamed) {
  test::TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) { write_file_atomic(dir.file(name), text); };
  write("relation.json", R"({"dog": []})");
  write("safe_words.txt", "light\n");
  write("annotations.json", R"([{"id": 1, "type": "discriminative-hallucination", "truth": "maybe"}])");
  std::string message = test::input_error_of([&] { load_amber(dir.path()); });
  EXPECT_NE(message.find(dir.file("annotations.json") + ": [0].truth"), std::string::npos) << message;
  write("relation.json", R"({"dog": "cat"})");
  message = test::input_error_of([&] { load_amber(dir.path()); });
  EXPECT_NE(message.find(dir.file("relation.json") + ": 'dog'"), std::string::npos) << message;
  std::filesystem::remove(dir.file("safe_words.txt"));
  write("relation.json", R"({"dog": []})");
  message = test::input_error_of([&] { load_amber(dir.path()); });
  EXPECT_NE(message.find(dir.file("safe_words.txt")), std::string::npos) << message;
}

}  // namespace
}  // namespace lvlm
