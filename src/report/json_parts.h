// Pieces of JSON that the report (report.cc) and the batch summary (summary.cc) write alike, so
// that readers of one can read the other. NaN and infinities are written as null.
#pragma once

#include <vector>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/json.h"

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

}  // namespace lvlm
