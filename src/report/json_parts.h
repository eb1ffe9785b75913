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
// The `stages` object: method, boundaries, confidence, window, modes, config, segments, curve.
OrderedJson stages_json(const StageResult& s);

}  // namespace lvlm
