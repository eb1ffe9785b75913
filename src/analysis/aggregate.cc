// Aggregation over the tokens of many items: per-layer summaries of every metric, stage
// boundaries of the pooled divergence rows, histograms of per-token boundaries, and the mean
// pairwise cosine of feature vectors across images.
#include <algorithm>
#include <cmath>
#include <limits>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

constexpr int kDPrev = 2;  // index of "d_prev" in kTokenMetrics

// Linear-interpolated quantile of sorted values (numpy's default), as the report's `layers`.
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

void check_token(const TokenRecord& t, size_t index, int num_layers) {
  for (int k = 0; k < kNumTokenMetrics; ++k)
    if (t.metrics[k].size() != static_cast<size_t>(num_layers) + 1)
      throw InputError("aggregate: token " + std::to_string(index) + ": " + kTokenMetrics[k] + " has " +
                       std::to_string(t.metrics[k].size()) + " values, expected num_layers + 1 = " +
                       std::to_string(num_layers + 1));
}

// Histogram over layers 0..L; values outside (a malformed report) are ignored, missing ones
// (undetermined, absent) counted apart.
void count(std::vector<int64_t>& histogram, int64_t& missing, const std::optional<int>& layer) {
  if (!layer) ++missing;
  else if (*layer >= 0 && *layer < static_cast<int>(histogram.size())) ++histogram[*layer];
}

}  // namespace

ValueSummary summarize_values(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }), values.end());
  ValueSummary s;
  s.count = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  s.median = quantile(values, 0.5);
  s.q1 = quantile(values, 0.25);
  s.q3 = quantile(values, 0.75);
  s.min = values.front();
  s.max = values.back();
  return s;
}

TokenAggregate aggregate_tokens(const std::vector<TokenRecord>& tokens, int num_layers, const StageOptions& options) {
  if (tokens.empty()) throw InputError("aggregate: no generated tokens to aggregate");
  for (size_t i = 0; i < tokens.size(); ++i) check_token(tokens[i], i, num_layers);
  TokenAggregate out;
  // The pooled fit: every token of every item is one row (docs/stages.md, "aggregate curve").
  std::vector<std::vector<double>> rows;
  rows.reserve(tokens.size());
  for (const auto& t : tokens) rows.emplace_back(t.metrics[kDPrev].begin() + 1, t.metrics[kDPrev].end());
  out.stages = detect_stages(rows, options);
  out.critical_histogram.assign(num_layers + 1, 0);
  out.mutation_histogram.assign(num_layers + 1, 0);
  for (const auto& t : tokens) {
    count(out.critical_histogram, out.critical_undetermined, t.critical_layer);
    count(out.mutation_histogram, out.mutation_absent, t.mutation_layer);
  }
  std::vector<double> values(tokens.size());
  for (int l = 0; l <= num_layers; ++l) {
    LayerAggregate layer;
    layer.layer = l;
    layer.stage = stage_of_layer(out.stages, l);
    for (int k = 0; k < kNumTokenMetrics; ++k) {
      for (size_t i = 0; i < tokens.size(); ++i) values[i] = tokens[i].metrics[k][l];
      layer.metrics[k] = summarize_values(values);
    }
    out.layers.push_back(std::move(layer));
  }
  return out;
}

void PairwiseCosine::add(const float* vector) {
  double norm2 = 0;
  for (size_t i = 0; i < sum_.size(); ++i) norm2 += double(vector[i]) * double(vector[i]);
  if (!(norm2 > 0) || !std::isfinite(norm2)) return;
  const double inv = 1.0 / std::sqrt(norm2);
  for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += double(vector[i]) * inv;
  ++count_;
}

double PairwiseCosine::mean() const {
  if (count_ < 2) return std::numeric_limits<double>::quiet_NaN();
  double s2 = 0;
  for (double v : sum_) s2 += v * v;
  const double n = static_cast<double>(count_);
  // Round-off can push identical directions a hair past 1.
  return std::clamp((s2 - n) / (n * (n - 1)), -1.0, 1.0);
}

}  // namespace lvlm
