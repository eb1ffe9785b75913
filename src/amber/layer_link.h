// Inside the amber module: generated object words traced to the layers of their tokens, and the
// grounded and hallucinated groups summarised layer by layer.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "lvlm_probe/amber.h"
#include "lvlm_probe/json.h"

namespace lvlm::amber {

// The per-layer arrays of a token that the link keeps.
inline constexpr std::array<const char*, 3> kLinkedMetrics = {"p_token", "d_prev", "d_final"};

// Every object word of a report's answer (as its tokens' pieces spell it) with its verdict and its
// first token's per-layer arrays and stage boundaries: [{word, lemma, group, steps, step, piece,
// critical_layer, critical_confidence, mutation_layer, mutation_confidence, p_token, d_prev,
// d_final}]. InputError naming `origin` when a token lacks its piece or an array.
OrderedJson link_objects(const Json& report, const AmberAnnotation& annotation, const AmberData& amber,
                         const NounLemmatizer& lemmas, const std::string& origin);

// The linked words of one group, summarised per layer.
class GroupLayers {
 public:
  explicit GroupLayers(int num_layers = 0);
  void add(const Json& mention);  // one entry of link_objects
  // {mentions, layers: [{layer, p_token, d_prev, d_final: {mean, median, q1, q3, min, max} or
  // null}], critical_layer: {histogram [L+1], undetermined}, mutation_layer: {histogram, absent}}
  OrderedJson json() const;

 private:
  int num_layers_;
  size_t mentions_ = 0, undetermined_ = 0, absent_ = 0;
  std::vector<std::array<std::vector<double>, kLinkedMetrics.size()>> values_;  // [layer][metric]
  std::vector<size_t> critical_, mutation_;                                      // counts per layer
};

}  // namespace lvlm::amber
