// The report's image sections: `image_positions` (the lens at the image features' positions) and
// the attention shares, per token and summarised per layer (docs/report-schema.md).
#include <cmath>

#include "json_parts.h"

namespace lvlm {
namespace {

using HeadList = std::vector<double> AttentionShares::*;
constexpr std::pair<const char*, HeadList> kGroups[] = {{"bos", &AttentionShares::bos},
                                                        {"image", &AttentionShares::image},
                                                        {"prompt", &AttentionShares::prompt},
                                                        {"generated", &AttentionShares::generated}};

const AttentionShares* shares_of_layer(const TokenTrace& t, int layer) {
  for (const auto& s : t.attention)
    if (s.layer == layer) return &s;
  return nullptr;
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? NAN : sum / static_cast<double>(v.size());
}

OrderedJson box_list(const std::vector<std::array<double, 4>>& boxes) {
  OrderedJson out = OrderedJson::array();
  for (const auto& b : boxes) out.push_back({b[0], b[1], b[2], b[3]});
  return out;
}

}  // namespace

OrderedJson token_attention_json(const std::vector<AttentionShares>& layers) {
  OrderedJson out = OrderedJson::array();
  for (const auto& s : layers) {
    OrderedJson j;
    j["layer"] = s.layer;
    for (const auto& [name, field] : kGroups) j[name] = finite_numbers(s.*field);
    out.push_back(j);
  }
  return {{"layers", out}};
}

OrderedJson attention_summary_json(const std::vector<TokenTrace>& tokens, int num_layers) {
  OrderedJson layers = OrderedJson::array();
  bool any = false;
  for (int l = 1; l <= num_layers; ++l) {
    std::vector<const AttentionShares*> rows;
    for (const auto& t : tokens)
      if (const AttentionShares* s = shares_of_layer(t, l)) rows.push_back(s);
    if (rows.empty()) continue;
    any = true;
    OrderedJson j;
    j["layer"] = l;
    j["tokens"] = rows.size();
    for (const auto& [name, field] : kGroups) {
      std::vector<double> medians;
      for (size_t h = 0; h < (rows.front()->*field).size(); ++h) {
        std::vector<double> over_tokens;
        for (const AttentionShares* s : rows) over_tokens.push_back((s->*field)[h]);
        medians.push_back(summarize_values(over_tokens).median);
      }
      j[name] = finite_numbers(medians);
    }
    std::vector<double> image_share;
    for (const AttentionShares* s : rows) image_share.push_back(mean_of(s->image));
    j["image_share"] = value_summary_json(summarize_values(image_share));
    layers.push_back(j);
  }
  if (!any) return nullptr;
  return {{"statistic", "median over tokens per head; image_share: the heads' mean image mass over tokens"},
          {"layers", layers}};
}

OrderedJson image_positions_json(const ImageLens& lens, int64_t start, const std::map<int, std::string>& pieces) {
  OrderedJson j;
  j["step"] = 0;
  j["start"] = start;
  j["count"] = lens.positions.size();
  j["grid"] = {{"rows", lens.grid_rows}, {"cols", lens.grid_cols}, {"cls_first", lens.cls_first}};
  j["input_size"] = {lens.input_width, lens.input_height};
  j["original_size"] = {lens.original_width, lens.original_height};
  j["boxes"] = {{"input", box_list(lens.input_boxes)}, {"original", box_list(lens.original_boxes)}};
  j["image"] = lens.image_data_uri;
  OrderedJson layers = OrderedJson::array();
  std::map<int, std::string> used;
  const size_t num_layers = lens.positions.empty() ? 0 : lens.positions.front().entropy.size();
  for (size_t l = 0; l < num_layers; ++l) {
    OrderedJson ids = OrderedJson::array(), probs = OrderedJson::array(), entropy = OrderedJson::array();
    for (const auto& t : lens.positions) {
      ids.push_back(t.topk_ids[l]);
      probs.push_back(finite_numbers(t.topk_probs[l]));
      entropy.push_back(std::isfinite(t.entropy[l]) ? OrderedJson(t.entropy[l]) : OrderedJson(nullptr));
      for (int id : t.topk_ids[l]) used[id] = pieces.at(id);
    }
    layers.push_back({{"layer", l}, {"top_ids", ids}, {"top_probs", probs}, {"entropy", entropy}});
  }
  OrderedJson piece_map = OrderedJson::object();
  for (const auto& [id, piece] : used) piece_map[std::to_string(id)] = piece;
  j["pieces"] = piece_map;
  j["layers"] = layers;
  return j;
}

}  // namespace lvlm
