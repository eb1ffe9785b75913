// AMBER (Wang et al. 2023, "An LLM-free Multi-dimensional Benchmark for MLLMs Hallucination
// Evaluation", github.com/junyangwang0410/AMBER): its metrics computed as its inference.py does,
// on the answers of `lvlm-probe batch --dataset amber` runs, and each generated object word linked
// to the layers (`lvlm-probe evaluate`, docs/amber.md). Torch-free.
//
// Where AMBER's script uses NLTK's tagger and spaCy's word vectors (which this tool cannot ship),
// the object vocabulary and relation.json stand in for them; docs/amber.md lists each difference
// and its expected effect.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lvlm_probe/json.h"

namespace lvlm {

// ---------------------------------------------------------------------------------------------
// Lemmas: NLTK's WordNetLemmatizer().lemmatize(word) (noun), which is WordNet's morphy: the
// exception list (noun.exc), else the suffix rules applied until a form is a WordNet noun
// (index.noun); of the forms found the shortest wins; none found: the word itself. Case is kept,
// as NLTK keeps it (WordNet's lemmas are lower case, so "Dogs" stays "Dogs").
class NounLemmatizer {
 public:
  NounLemmatizer() = default;
  NounLemmatizer(std::set<std::string> nouns, std::map<std::string, std::vector<std::string>> exceptions);
  // `dir` holds WordNet's noun.exc and index.noun (Debian's wordnet-base: /usr/share/wordnet).
  // InputError naming the file when one is missing or holds no entry.
  static NounLemmatizer load(const std::string& dir);
  std::string lemma(const std::string& word) const;

 private:
  std::set<std::string> nouns_;                              // index.noun's lemmas, '_' as ' '
  std::map<std::string, std::vector<std::string>> exceptions_;  // noun.exc: inflected -> bases
};

inline constexpr const char* kDefaultWordnetDir = "/usr/share/wordnet";

// ---------------------------------------------------------------------------------------------
// AMBER's files.

struct AmberAnnotation {
  int id = 0;
  std::string type;                       // "generative", "discriminative-hallucination", ...
  std::vector<std::string> truth, hallu;  // generative: objects in the image / hallucination-prone
  std::string answer;                     // discriminative: "yes" or "no"
};

struct AmberData {
  std::string dir;
  std::map<std::string, std::vector<std::string>> relation;  // relation.json: object -> associated words
  std::set<std::string> vocabulary;  // relation.json's keys and words (AMBER's hallucination_words)
  std::set<std::string> safe_words;  // safe_words.txt: never counted as hallucinated
  std::map<int, AmberAnnotation> annotations;
  size_t max_words = 1;  // words in the longest vocabulary entry
  // The annotation of a query id; nullptr when annotations.json has none.
  const AmberAnnotation* find(int id) const;
};

// Reads annotations.json, relation.json and safe_words.txt from `dir` (as published in AMBER's
// data/ directory). InputError naming the file and the entry for anything missing or malformed.
AmberData load_amber(const std::string& dir);

// ---------------------------------------------------------------------------------------------
// Generative queries: object words of an answer and their verdicts.

// A word of the answer whose lemma is in the vocabulary (AMBER's after_process_nouns): bytes
// [begin, end) of the text. Multi-word entries match too, longest first.
struct ObjectMention {
  std::string word, lemma;
  size_t begin = 0, end = 0;
};
std::vector<ObjectMention> find_objects(const std::string& text, const AmberData& amber, const NounLemmatizer& lemmas);

enum class ObjectVerdict { grounded, hallucinated, safe_word };
const char* verdict_name(ObjectVerdict v);  // "grounded" | "hallucinated" | "safe_word"

// Two vocabulary words count as the same object (in place of AMBER's spaCy similarity >= 0.8):
// equal, or one is among the other's relation.json words.
bool related_objects(const std::string& a, const std::string& b, const AmberData& amber);

// One answer scored as inference.py scores it.
struct GenerativeScore {
  std::vector<ObjectMention> objects;
  std::vector<ObjectVerdict> verdicts;  // per object
  std::vector<bool> truth_covered;      // per annotation.truth entry (duplicates are separate entries)
  std::vector<bool> hallu_covered;      // per annotation.hallu entry
  size_t hallucinated() const;
};
GenerativeScore score_generative(const std::string& answer, const AmberAnnotation& annotation, const AmberData& amber,
                                 const NounLemmatizer& lemmas);

// Sums over answers: CHAIR = hallucinated objects / objects; Cover = truth entries mentioned /
// truth entries; Hal = answers with a hallucinated object / answers; Cog = hallu entries
// mentioned / hallu entries. Percentages; nullopt with a zero denominator.
struct GenerativeTotals {
  size_t answers = 0, answers_hallucinating = 0, objects = 0, hallucinated = 0;
  size_t truth = 0, truth_covered = 0, hallu = 0, hallu_covered = 0;
  void add(const GenerativeScore& s);
  std::optional<double> chair() const, cover() const, hal() const, cog() const;
};

// ---------------------------------------------------------------------------------------------
// Discriminative queries: yes / no.

// "yes" or "no" when the answer's first word is one (any case, trailing punctuation ignored),
// else "" (counted, never right). AMBER's script compares the whole answer with "Yes" / "No".
std::string yes_no_answer(const std::string& answer);
// inference.py's groups: "existence" (discriminative-hallucination), "state", "number", "action"
// (discriminative-attribute-*), "relation" (anything else).
std::string discriminative_group(const std::string& type);

// "no" is the positive class, as in inference.py: precision = right "no" answers / "no" answers,
// recall = right "no" answers / "no" truths.
struct YesNoTotals {
  size_t answers = 0, correct = 0, unparsed = 0, truth_no = 0, answered_no = 0, correct_no = 0;
  void add(const std::string& truth, const std::string& answer);  // answer from yes_no_answer
  YesNoTotals& operator+=(const YesNoTotals& o);
  std::optional<double> accuracy() const, precision() const, recall() const, f1() const;
};

// ---------------------------------------------------------------------------------------------
// `lvlm-probe evaluate`.

struct EvaluateOptions {
  std::vector<std::string> run_dirs;  // written by lvlm-probe batch --dataset amber
  std::string amber_dir;
  std::string wordnet_dir = kDefaultWordnetDir;
};

// The evaluation (schema lvlm-probe/eval/1, docs/amber.md): the metrics, every generated object
// word with its first token's per-layer lens probability, divergences and stage boundaries, and
// the grounded and hallucinated groups compared layer by layer. InputError for unreadable AMBER
// files or runs, runs of another data set, ids without an annotation, reports lacking a field
// the evaluation needs, and runs of models with different layer counts; UsageError for a run
// directory given twice.
OrderedJson evaluate_amber(const EvaluateOptions& options);

inline constexpr const char* kEvalSchema = "lvlm-probe/eval/1";

}  // namespace lvlm
