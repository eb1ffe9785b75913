// Pieces of JSON that the report (report.cc) and the batch summary (summary.cc) write alike, so
// that readers of one can read the other. NaN and infinities are written as null.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/probe.h"

namespace lvlm {

OrderedJson finite_numbers(const std::vector<double>& values);
// {mean, median, q1, q3, min, max}, or null when no finite value was summarised.
OrderedJson value_summary_json(const ValueSummary& s);
// settings.stages: the stage options as given.
OrderedJson stage_options_json(const StageOptions& o);
// A layer number, or null for an undetermined critical / absent mutation layer.
OrderedJson optional_layer(const std::optional<int>& layer);
// A token's own outcomes: critical_layer, mutation_layer and their confidences.
void add_token_stages(OrderedJson& token, const TokenStages& t);
// The `stages` object: method, outcomes and confidences, final-norm step, window, modes,
// candidates, noise, config, segments, curve (docs/report-schema.md).
OrderedJson stages_json(const StageResult& s);

// A token's `attention`: {layers: [{layer, bos, image, prompt, generated}]}, lists over heads.
OrderedJson token_attention_json(const std::vector<AttentionShares>& layers);
// The top-level `attention`: per layer the per-head medians over tokens and the summary over
// tokens of the image share averaged over heads; null without measured tokens.
OrderedJson attention_summary_json(const std::vector<TokenTrace>& tokens, int num_layers);
// The top-level `image_positions` (docs/report-schema.md); `start` is the first image position.
OrderedJson image_positions_json(const ImageLens& lens, int64_t start, const std::map<int, std::string>& pieces);

}  // namespace lvlm
