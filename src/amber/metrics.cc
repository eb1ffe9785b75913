// AMBER's figures from the per-answer scores, as inference.py computes them (its counters, then
// score / count * 100). inference.py starts each count at 0.001 to avoid a division by zero and
// prints one decimal; here a zero count gives no figure and the figure is not rounded.
#include <algorithm>
#include <cctype>

#include "lvlm_probe/amber.h"

namespace lvlm {
namespace {

std::optional<double> percent(size_t part, size_t whole) {
  if (whole == 0) return std::nullopt;
  return 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

size_t count_true(const std::vector<bool>& v) { return static_cast<size_t>(std::count(v.begin(), v.end(), true)); }

}  // namespace

void GenerativeTotals::add(const GenerativeScore& s) {
  ++answers;
  const size_t h = s.hallucinated();
  answers_hallucinating += h > 0 ? 1 : 0;
  objects += s.objects.size();
  hallucinated += h;
  truth += s.truth_covered.size();
  truth_covered += count_true(s.truth_covered);
  hallu += s.hallu_covered.size();
  hallu_covered += count_true(s.hallu_covered);
}

std::optional<double> GenerativeTotals::chair() const { return percent(hallucinated, objects); }
std::optional<double> GenerativeTotals::cover() const { return percent(truth_covered, truth); }
std::optional<double> GenerativeTotals::hal() const { return percent(answers_hallucinating, answers); }
std::optional<double> GenerativeTotals::cog() const { return percent(hallu_covered, hallu); }

std::string yes_no_answer(const std::string& answer) {
  size_t i = 0;
  while (i < answer.size() && std::isspace(static_cast<unsigned char>(answer[i]))) ++i;
  std::string word;
  for (; i < answer.size() && std::isalpha(static_cast<unsigned char>(answer[i])); ++i)
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(answer[i])));
  return word == "yes" || word == "no" ? word : "";
}

std::string discriminative_group(const std::string& type) {
  if (type == "discriminative-hallucination") return "existence";
  if (type == "discriminative-attribute-state") return "state";
  if (type == "discriminative-attribute-number") return "number";
  if (type == "discriminative-attribute-action") return "action";
  return "relation";
}

void YesNoTotals::add(const std::string& truth, const std::string& answer) {
  ++answers;
  unparsed += answer.empty() ? 1 : 0;
  correct += answer == truth ? 1 : 0;
  truth_no += truth == "no" ? 1 : 0;
  answered_no += answer == "no" ? 1 : 0;
  correct_no += truth == "no" && answer == "no" ? 1 : 0;
}

YesNoTotals& YesNoTotals::operator+=(const YesNoTotals& o) {
  answers += o.answers, correct += o.correct, unparsed += o.unparsed;
  truth_no += o.truth_no, answered_no += o.answered_no, correct_no += o.correct_no;
  return *this;
}

std::optional<double> YesNoTotals::accuracy() const { return percent(correct, answers); }
std::optional<double> YesNoTotals::precision() const { return percent(correct_no, answered_no); }
std::optional<double> YesNoTotals::recall() const { return percent(correct_no, truth_no); }
std::optional<double> YesNoTotals::f1() const {
  const auto p = precision(), r = recall();
  if (!p || !r || *p + *r == 0) return std::nullopt;
  return 2 * *p * *r / (*p + *r);
}

}  // namespace lvlm
