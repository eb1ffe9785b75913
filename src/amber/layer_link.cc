// Object words of an answer traced to their tokens: the answer is spelled from the report's token
// pieces, so each word's bytes fall into known tokens; the word's first token is the one where the
// model chose it, and its per-layer arrays and stage boundaries stand for the word.
#include "layer_link.h"

#include <cmath>
#include <limits>

#include "../report/json_parts.h"
#include "lvlm_probe/common.h"

namespace lvlm::amber {
namespace {

const Json& token_array(const Json& token, const char* key, const std::string& origin, size_t step) {
  if (!token.contains(key) || !token[key].is_array())
    throw InputError(origin, "tokens[" + std::to_string(step) + "]: no array '" + key + "' (the evaluation needs it)");
  return token[key];
}

Json stage_value(const Json& token, const char* key) {
  const auto it = token.find(key);
  return it == token.end() ? Json() : *it;
}

}  // namespace

OrderedJson link_objects(const Json& report, const AmberAnnotation& annotation, const AmberData& amber,
                         const NounLemmatizer& lemmas, const std::string& origin) {
  const Json& tokens = report["tokens"];
  std::string text;
  std::vector<size_t> token_end;  // byte where each token's piece ends in `text`
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!tokens[i].contains("piece") || !tokens[i]["piece"].is_string())
      throw InputError(origin, "tokens[" + std::to_string(i) + "]: no 'piece' (the evaluation needs the text of each token)");
    text += tokens[i]["piece"].get<std::string>();
    token_end.push_back(text.size());
  }
  const GenerativeScore score = score_generative(text, annotation, amber, lemmas);
  OrderedJson out = OrderedJson::array();
  for (size_t k = 0; k < score.objects.size(); ++k) {
    const ObjectMention& m = score.objects[k];
    std::vector<size_t> steps;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const size_t begin = i == 0 ? 0 : token_end[i - 1];
      if (begin < m.end && token_end[i] > m.begin) steps.push_back(i);
    }
    const Json& token = tokens[steps.front()];
    OrderedJson j;
    j["word"] = m.word;
    j["lemma"] = m.lemma;
    j["group"] = verdict_name(score.verdicts[k]);
    j["steps"] = steps;
    j["step"] = steps.front();
    j["piece"] = token["piece"];
    for (const char* key : {"critical_layer", "critical_confidence", "mutation_layer", "mutation_confidence"})
      j[key] = stage_value(token, key);
    for (const char* key : kLinkedMetrics) j[key] = token_array(token, key, origin, steps.front());
    out.push_back(std::move(j));
  }
  return out;
}

GroupLayers::GroupLayers(int num_layers)
    : num_layers_(num_layers),
      values_(static_cast<size_t>(num_layers) + 1),
      critical_(static_cast<size_t>(num_layers) + 1),
      mutation_(static_cast<size_t>(num_layers) + 1) {}

void GroupLayers::add(const Json& mention) {
  ++mentions_;
  for (size_t k = 0; k < kLinkedMetrics.size(); ++k) {
    const Json& a = mention[kLinkedMetrics[k]];
    for (size_t l = 0; l < values_.size() && l < a.size(); ++l)
      if (a[l].is_number()) values_[l][k].push_back(a[l].get<double>());
  }
  auto count = [this](const Json& layer, std::vector<size_t>& histogram, size_t& missing) {
    if (layer.is_number_integer() && layer.get<int>() >= 0 && layer.get<int>() <= num_layers_)
      ++histogram[layer.get<size_t>()];
    else
      ++missing;
  };
  count(mention["critical_layer"], critical_, undetermined_);
  count(mention["mutation_layer"], mutation_, absent_);
}

OrderedJson GroupLayers::json() const {
  OrderedJson layers = OrderedJson::array();
  for (size_t l = 0; l < values_.size(); ++l) {
    OrderedJson entry = {{"layer", l}};
    for (size_t k = 0; k < kLinkedMetrics.size(); ++k) entry[kLinkedMetrics[k]] = value_summary_json(summarize_values(values_[l][k]));
    layers.push_back(std::move(entry));
  }
  OrderedJson j;
  j["mentions"] = mentions_;
  j["layers"] = std::move(layers);
  j["critical_layer"] = {{"histogram", critical_}, {"undetermined", undetermined_}};
  j["mutation_layer"] = {{"histogram", mutation_}, {"absent", absent_}};
  return j;
}

}  // namespace lvlm::amber
