// The piecewise fit of stage detection; the model is described in stage_fit.h.
#include "stage_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lvlm::stage_fit {
namespace {

// Values within this relative distance of the maximum are tied for argmax; SSEs within this
// share of the curve's total sum of squares are tied. Ties go to the earliest layer. Both keep
// results identical when the data are rescaled (rescaling perturbs the last bits).
constexpr double kValueTie = 1e-9;
constexpr double kSseTie = 1e-10;
// Round-off in a log value, relative to its size: below this, a (nearly) flat curve's residuals
// are noise of the arithmetic and count as ties too.
constexpr double kRounding = 1e-13;
// log(0) floor, relative to the curve's own values (see log_curve).
constexpr double kFloorOfMax = 1e-6;
// The spike's value and its boundary (see stage_fit.h).
constexpr int kSpikeParams = 2;

// [1, n] cut into rapid evolution [1, c], plateau [c+1, k-1] and late rise [k, n]. The plateau
// is the valley: a rise whose mean lies below it is refused (SSE = inf). Otherwise noise lets a
// line over the real plateau pose as the "rise" behind a one-layer "plateau" on rapid
// evolution's last layer, and c would slip one layer early.
Cut cut_before_mutation(const SegmentFits& f, int c, int k, int n) {
  const bool plateau = k - 1 >= c + 1, rise = n >= k;
  const Moments rapid = f.over(1, c), rising = f.over(k, n);
  Cut cut;
  cut.params = rapid.sloped_params() + plateau + rising.sloped_params() + plateau + rise;
  if (plateau && rise && f.mean(k, n) < f.mean(c + 1, k - 1) - f.mean_tie()) {
    cut.sse = std::numeric_limits<double>::infinity();
    return cut;
  }
  cut.sse = rapid.sloped_sse() + f.constant_sse(c + 1, k - 1) + rising.sloped_sse();
  return cut;
}

Candidate with_spike(const SegmentFits& f, int c, int k, int m) {
  Candidate x{c, k, m, cut_before_mutation(f, c, k, m - 1)};
  x.cut.sse += f.constant_sse(m + 1, f.layers());
  x.cut.params += kSpikeParams + (f.layers() > m);
  return x;
}

Candidate without_spike(const SegmentFits& f, int c, int k) { return {c, k, 0, cut_before_mutation(f, c, k, f.layers())}; }

// The candidate with the smallest SSE + penalty x parameters; ties: fewer parameters, then the
// earliest c, then k (the spike family first).
Candidate best_candidate(const SegmentFits& f, int c_first, int c_last, const std::vector<int>& mutation,
                         double penalty) {
  const double tie = f.sse_tie();
  Candidate best;
  double best_score = 0;
  auto consider = [&](const Candidate& x) {
    const double score = x.cut.sse + penalty * x.cut.params;
    if (best.c == 0 || score < best_score - tie || (score <= best_score + tie && x.cut.params < best.cut.params))
      best = x, best_score = score;
  };
  const int n = f.layers();
  for (int c = c_first; c <= c_last; ++c) {
    const int m = mutation[c];
    if (m > c)
      for (int k = c + 1; k <= m; ++k) consider(with_spike(f, c, k, m));  // k = m: no late rise
    for (int k = c + 1; k <= n + 1; ++k) consider(without_spike(f, c, k));  // k = n + 1: no late rise
  }
  return best;
}

}  // namespace

double Moments::level_sse() const { return n < 2 ? 0.0 : std::max(0.0, xx - x * x / n); }

double Moments::line_sse() const {
  if (n < 3) return 0;
  const double sll = ll - l * l / n, slx = lx - l * x / n, sxx = xx - x * x / n;
  return std::max(0.0, sxx - slx * slx / sll);
}

SegmentFits::SegmentFits(const std::vector<double>& x) : prefix_(x.size() + 1) {
  double mean = 0;
  for (double v : x) mean += v, rounding_ = std::max(rounding_, kRounding * std::fabs(v));
  mean /= static_cast<double>(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double l = static_cast<double>(i + 1), v = x[i] - mean;
    prefix_[i + 1] = prefix_[i] + Moments{1, l, l * l, v, l * v, v * v};
  }
}

Moments SegmentFits::over(int first, int last) const {
  if (last < first) return {};
  const Moments &a = prefix_[last], &b = prefix_[first - 1];
  return {a.n - b.n, a.l - b.l, a.ll - b.ll, a.x - b.x, a.lx - b.lx, a.xx - b.xx};
}

double SegmentFits::sse_tie() const { return kSseTie * total_sst() + round_off(layers()); }

double SegmentFits::mean_tie() const { return 1e-9 * std::sqrt(total_sst() / layers()) + rounding_; }

std::vector<double> log_curve(const std::vector<double>& d) {
  const double top = *std::max_element(d.begin(), d.end());
  std::vector<double> x(d.size(), 0.0);
  if (top <= 0) return x;  // all zero: a flat curve
  double smallest = top;
  for (double v : d)
    if (v > 0) smallest = std::min(smallest, v);
  const double floor = std::max(0.5 * smallest, kFloorOfMax * top);
  for (size_t i = 0; i < d.size(); ++i) x[i] = std::log(std::max(d[i], floor));
  return x;
}

int argmax_layer(const std::vector<double>& curve, int first, int last) {
  double top = curve[first - 1];
  for (int l = first; l <= last; ++l) top = std::max(top, curve[l - 1]);
  for (int l = first; l <= last; ++l)
    if (curve[l - 1] >= top - kValueTie * top) return l;
  return first;
}

std::vector<int> suffix_argmax(const std::vector<double>& curve, int n) {
  std::vector<int> best(static_cast<size_t>(n) + 1, 0);
  double top = curve[n - 1];
  int at = n;
  for (int l = n; l >= 1; --l) {
    top = std::max(top, curve[l - 1]);
    if (curve[l - 1] >= top - kValueTie * top) at = l;
    best[l - 1] = at;
  }
  best[n] = 0;  // (n, n] is empty
  return best;
}

// Mallows' Cp: a parameter must buy more than twice the noise variance, estimated as the
// residual variance of the best fit without penalty. Noiseless curves (that fit is exact) are
// decided by least squares alone; on noisy ones an extra piece cannot win by soaking up noise.
Candidate select_candidate(const SegmentFits& f, int c_first, int c_last, const std::vector<int>& mutation) {
  const Candidate raw = best_candidate(f, c_first, c_last, mutation, 0.0);
  const int dof = f.layers() - raw.cut.params - 1;
  if (dof < 1 || raw.cut.sse <= f.sse_tie()) return raw;
  return best_candidate(f, c_first, c_last, mutation, 2.0 * raw.cut.sse / dof);
}

}  // namespace lvlm::stage_fit
