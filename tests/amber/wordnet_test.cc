// WordNet's morphy for nouns as NLTK's WordNetLemmatizer applies it, on the WordNet subset in
// tests/data/amber/wordnet (the expected lemmas are NLTK's for these words).
#include <gtest/gtest.h>

#include "lvlm_probe/amber.h"
#include "test_util.h"

namespace lvlm {
namespace {

NounLemmatizer test_lemmas() { return NounLemmatizer::load(test::data_path("amber/wordnet")); }

TEST(NounLemmatizer, SuffixRulesUntilAWordNetNoun) {
  const NounLemmatizer lemmas = test_lemmas();
  EXPECT_EQ(lemmas.lemma("dogs"), "dog");
  EXPECT_EQ(lemmas.lemma("bushes"), "bush");      // shes -> sh
  EXPECT_EQ(lemmas.lemma("boxes"), "box");        // xes -> x
  EXPECT_EQ(lemmas.lemma("women"), "woman");      // men -> man
  EXPECT_EQ(lemmas.lemma("flies"), "fly");        // ies -> y
  EXPECT_EQ(lemmas.lemma("behalves"), "behalf");  // NLTK's ves -> f
  EXPECT_EQ(lemmas.lemma("dog"), "dog");
}

TEST(NounLemmatizer, ExceptionListFirst) {
  const NounLemmatizer lemmas = test_lemmas();
  EXPECT_EQ(lemmas.lemma("children"), "child");
  EXPECT_EQ(lemmas.lemma("knives"), "knife");
  // "men" is a WordNet noun itself (armed forces), as short as "man": the first of the shortest.
  EXPECT_EQ(lemmas.lemma("men"), "men");
  // leaves -> leaf and leave are both nouns: the shortest wins, as NLTK's min(lemmas, key=len).
  EXPECT_EQ(lemmas.lemma("leaves"), "leaf");
}

TEST(NounLemmatizer, ShortestKnownFormWinsAndUnknownWordsStay) {
  const NounLemmatizer lemmas = test_lemmas();
  EXPECT_EQ(lemmas.lemma("glasses"), "glass");  // glasses and glass are both nouns
  EXPECT_EQ(lemmas.lemma("people"), "people");  // a noun itself; no rule applies
  EXPECT_EQ(lemmas.lemma("People"), "People");  // case is kept, as NLTK keeps it
  EXPECT_EQ(lemmas.lemma("cloudy"), "cloudy");
  EXPECT_EQ(lemmas.lemma("xyzzys"), "xyzzys");
}

TEST(NounLemmatizer, MissingDataIsNamed) {
  test::TempDir dir;
  const std::string message = test::input_error_of([&] { NounLemmatizer::load(dir.path()); });
  EXPECT_NE(message.find(dir.file("index.noun")), std::string::npos) << message;
  EXPECT_NE(message.find("wordnet-base"), std::string::npos) << message;
}

}  // namespace
}  // namespace lvlm
