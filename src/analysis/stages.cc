// Stage boundaries from adjacent-layer divergences (SPEC §2 "Stage boundaries"; the algorithm
// and its rationale for users are in docs/stages.md).
//
// Every curve (the per-layer median over tokens, or one token's row) goes through the same fit
// on x_l = log(max(d_l, floor)), l = 1..L. For each candidate critical layer c in [1, L-1]:
//   m(c) = argmax of d over (c, L]                                    (the SPEC's rule)
//   [1, m-1] is cut into  rapid evolution [1, c]  | plateau [c+1, k-1] | late rise [k, m-1]
//   SSE(c, k) = sloped(1..c) + level(c+1..k-1) + sloped(k..m-1) + level(m+1..L)
// and (c, k) minimises SSE + 2 sigma^2 x parameters (Mallows' Cp, sigma^2 from the unpenalised
// best fit; 0 for noiseless curves); ties: fewer parameters, then the earliest c, then k.
// - sloped() is a least-squares line in log d from 3 layers on: rapid evolution is often an
//   exponential decay (a level would put the break in the middle of it), and the layers before
//   the mutation peak often climb towards it (without their own piece they would drag the plateau
//   and c towards the peak). With 1-2 layers it is a level: a line through 1-2 points fits
//   anything, so a boundary could move for free.
// - The plateau is the valley: a late rise whose mean lies below it is refused.
// - The mutation layer m is a spike of its own and the layers after it get their own level, so a
//   peak followed by quieter layers cannot pull c.
// The late rise is a nuisance piece: the reported stages are still [1,c], [c+1,m-1], [m,L].
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

using Matrix = std::vector<std::vector<double>>;

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

std::string layer_text(int layer) { return "layer " + std::to_string(layer); }

std::string number_text(double v) {
  std::ostringstream out;
  out << v;  // shortest readable form: 0.25, -0.5, nan, inf
  return out.str();
}

// Returns L; InputError for matrices the fit cannot use.
int validate_divergences(const Matrix& d) {
  const std::string what = "stage detection: ";
  if (d.empty()) throw InputError(what + "no tokens (the divergence matrix is empty)");
  const size_t L = d[0].size();
  if (L < 2) throw InputError(what + "needs at least 2 layers, found " + std::to_string(L));
  for (size_t t = 0; t < d.size(); ++t) {
    if (d[t].size() != L)
      throw InputError(what + "token " + std::to_string(t) + " has " + std::to_string(d[t].size()) +
                       " layers, token 0 has " + std::to_string(L));
    for (size_t l = 0; l < L; ++l)
      if (!std::isfinite(d[t][l]) || d[t][l] < 0)
        throw InputError(what + "token " + std::to_string(t) + ", " + layer_text(static_cast<int>(l) + 1) +
                         ": divergence is " + number_text(d[t][l]) + "; expected a finite value >= 0");
  }
  return static_cast<int>(L);
}

// Earliest layer in [first, last] (1-based) whose value is within kValueTie of the maximum.
int argmax_layer(const std::vector<double>& curve, int first, int last) {
  double top = curve[first - 1];
  for (int l = first; l <= last; ++l) top = std::max(top, curve[l - 1]);
  for (int l = first; l <= last; ++l)
    if (curve[l - 1] >= top - kValueTie * top) return l;
  return first;
}

// argmax_layer(curve, l, L) for every l, in one backward pass. Index l-1; same tie rule.
std::vector<int> suffix_argmax(const std::vector<double>& curve) {
  const int L = static_cast<int>(curve.size());
  std::vector<int> best(curve.size());
  double top = curve[L - 1];
  best[L - 1] = L;
  for (int l = L - 1; l >= 1; --l) {
    top = std::max(top, curve[l - 1]);
    best[l - 1] = curve[l - 1] >= top - kValueTie * top ? l : best[l];
  }
  return best;
}

// log d with zeros (a skipped block passes the residual through: d = 0) and round-off dust
// raised to max(half the smallest positive value, 1e-6 x the largest). Both scale with the data,
// so rescaling d only shifts x by a constant, which no fit below sees.
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

// Least-squares residuals of segments of one log curve in O(1) each, from prefix sums over the
// centred values (centring keeps the subtractions well conditioned for any rescaling).
class SegmentFits {
 public:
  explicit SegmentFits(const std::vector<double>& x) : n_(x.size() + 1), l_(n_), ll_(n_), x_(n_), lx_(n_), xx_(n_) {
    double mean = 0;
    for (double v : x) mean += v, rounding_ = std::max(rounding_, kRounding * std::fabs(v));
    mean /= static_cast<double>(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double l = static_cast<double>(i + 1), v = x[i] - mean;
      n_[i + 1] = n_[i] + 1, l_[i + 1] = l_[i] + l, ll_[i + 1] = ll_[i] + l * l;
      x_[i + 1] = x_[i] + v, lx_[i + 1] = lx_[i] + l * v, xx_[i + 1] = xx_[i] + v * v;
    }
  }
  int layers() const { return static_cast<int>(n_.size()) - 1; }
  // Sum of squares about the mean over layers [first, last]; 0 for fewer than 2 layers.
  double constant_sse(int first, int last) const {
    const double n = sum(n_, first, last);
    if (n < 2) return 0;
    const double sx = sum(x_, first, last);
    return std::max(0.0, sum(xx_, first, last) - sx * sx / n);
  }
  // Residual sum of squares of the least-squares line in l; 0 for fewer than 3 layers.
  double line_sse(int first, int last) const {
    const double n = sum(n_, first, last);
    if (n < 3) return 0;
    const double sl = sum(l_, first, last), sx = sum(x_, first, last);
    const double sll = sum(ll_, first, last) - sl * sl / n;
    const double slx = sum(lx_, first, last) - sl * sx / n;
    const double sxx = sum(xx_, first, last) - sx * sx / n;
    return std::max(0.0, sxx - slx * slx / sll);
  }
  double total_sst() const { return constant_sse(1, layers()); }
  // Residual sums of squares closer than this are tied.
  double sse_tie() const { return kSseTie * total_sst() + round_off(layers()); }
  // What round-off alone can leave as the residual of `n` layers.
  double round_off(int n) const { return n * rounding_ * rounding_; }
  // Mean of the centred values over [first, last] (non-empty); means closer than mean_tie()
  // (1e-9 of the curve's standard deviation, or round-off) are tied.
  double mean(int first, int last) const { return sum(x_, first, last) / sum(n_, first, last); }
  double mean_tie() const { return 1e-9 * std::sqrt(total_sst() / layers()) + rounding_; }

 private:
  static double sum(const std::vector<double>& p, int first, int last) {
    return last < first ? 0.0 : p[last] - p[first - 1];
  }
  std::vector<double> n_, l_, ll_, x_, lx_, xx_;
  double rounding_ = 0;
};

// A piece that may slope (see the top): a line from 3 layers on, a level below, nothing if empty.
double sloped_sse(const SegmentFits& f, int first, int last) {
  return last - first >= 2 ? f.line_sse(first, last) : f.constant_sse(first, last);
}
int sloped_params(int first, int last) { return last < first ? 0 : last - first >= 2 ? 2 : 1; }

struct Cut {
  double sse = 0;
  int params = 0;  // fitted values plus one per boundary between non-empty pieces
};

// [1, n] cut into rapid evolution [1, c], plateau [c+1, k-1] and late rise [k, n]. The plateau
// is the valley: a rise whose mean lies below it is refused (SSE = inf). Otherwise noise lets a
// line over the real plateau pose as the "rise" behind a one-layer "plateau" on rapid
// evolution's last layer, and c would slip one layer early.
Cut cut_before_mutation(const SegmentFits& f, int c, int k, int n) {
  const bool plateau = k - 1 >= c + 1, rise = n >= k;
  Cut cut;
  cut.params = sloped_params(1, c) + plateau + sloped_params(k, n) + plateau + rise;
  if (plateau && rise && f.mean(k, n) < f.mean(c + 1, k - 1) - f.mean_tie()) {
    cut.sse = std::numeric_limits<double>::infinity();
    return cut;
  }
  cut.sse = sloped_sse(f, 1, c) + f.constant_sse(c + 1, k - 1) + sloped_sse(f, k, n);
  return cut;
}

// How much the break at c explains, per degree of freedom: the fitted cut against the same cut
// with rapid evolution and plateau merged into one sloped piece (no critical layer; the late
// rise kept): 1 - (SSE/dof with) / (SSE/dof without), clipped to [0, 1]. 0 without a plateau or
// with too few layers to judge.
double confidence(const SegmentFits& f, int c, int k, int m) {
  const int n = m - 1;
  if (k - 1 < c + 1) return 0;
  const Cut with = cut_before_mutation(f, c, k, n), without = cut_before_mutation(f, k - 1, k, n);
  const int dof_with = n - with.params, dof_without = n - without.params;
  if (dof_with < 1 || dof_without < 1) return 0;
  if (without.sse <= 1e-12 * f.constant_sse(1, n) + f.round_off(n)) return 0;  // one trend fits all
  return std::clamp(1.0 - (with.sse / dof_with) / (without.sse / dof_without), 0.0, 1.0);
}

// One candidate fit of the whole curve: [1, m-1] cut as above, the spike at m (fitted exactly,
// the same for every candidate, so not counted) and the quiet tail [m+1, L] as one level.
struct Candidate {
  int c = 0, k = 0, m = 0;
  Cut cut;
};

Candidate candidate(const SegmentFits& f, int c, int k, int m) {
  Candidate x{c, k, m, cut_before_mutation(f, c, k, m - 1)};
  x.cut.sse += f.constant_sse(m + 1, f.layers());
  x.cut.params += f.layers() > m;
  return x;
}

// The candidate with the smallest SSE + penalty x parameters over c in [c_first, c_last] (with
// m = mutation(c)) and every k; ties: fewer parameters, then the earliest c, then k.
template <typename Mutation>
Candidate best_candidate(const SegmentFits& f, int c_first, int c_last, Mutation mutation, double penalty) {
  const double tie = f.sse_tie();
  Candidate best;
  double best_score = 0;
  for (int c = c_first; c <= c_last; ++c) {
    const int m = mutation(c);
    for (int k = c + 1; k <= m; ++k) {  // k = m: no late rise
      const Candidate x = candidate(f, c, k, m);
      const double score = x.cut.sse + penalty * x.cut.params;
      if (best.c == 0 || score < best_score - tie || (score <= best_score + tie && x.cut.params < best.cut.params))
        best = x, best_score = score;
    }
  }
  return best;
}

// Mallows' Cp: a parameter must buy more than twice the noise variance, estimated as the
// residual variance of the best fit without penalty. Noiseless curves (that fit is exact) are
// decided by least squares alone; on noisy ones an extra piece cannot win by soaking up noise.
template <typename Mutation>
Candidate select_candidate(const SegmentFits& f, int c_first, int c_last, Mutation mutation) {
  const Candidate raw = best_candidate(f, c_first, c_last, mutation, 0.0);
  const int dof = f.layers() - raw.cut.params - 1;
  if (dof < 1 || raw.cut.sse <= f.sse_tie()) return raw;
  return best_candidate(f, c_first, c_last, mutation, 2.0 * raw.cut.sse / dof);
}

TokenStages fit_automatic(const std::vector<double>& d) {
  const int L = static_cast<int>(d.size());
  const SegmentFits f(log_curve(d));
  const std::vector<int> mutation_from = suffix_argmax(d);  // m(c) = mutation_from[c]
  const Candidate x = select_candidate(f, 1, L - 1, [&](int c) { return mutation_from[c]; });
  return {x.c, x.m, confidence(f, x.c, x.k, x.m)};
}

// Fixed c and m: only the late-rise start k is fitted, for the confidence figure.
TokenStages fit_fixed(const std::vector<double>& d, int c, int first, int last) {
  const int m = argmax_layer(d, first, last);
  const SegmentFits f(log_curve(d));
  const Candidate x = select_candidate(f, c, c, [m](int) { return m; });
  return {c, m, confidence(f, c, x.k, m)};
}

// Median over tokens per layer (the mean of the two middle values for an even count): one token
// with absurd values cannot move it when there are 3 or more tokens.
std::vector<double> median_curve(const Matrix& d) {
  std::vector<double> out(d[0].size()), column(d.size());
  for (size_t l = 0; l < out.size(); ++l) {
    for (size_t t = 0; t < d.size(); ++t) column[t] = d[t][l];
    std::sort(column.begin(), column.end());
    const size_t h = column.size() / 2;
    out[l] = column.size() % 2 ? column[h] : 0.5 * (column[h - 1] + column[h]);
  }
  return out;
}

int mode_of(const std::vector<int>& values) {
  std::map<int, int> count;
  for (int v : values) ++count[v];
  int best = 0, best_count = 0;
  for (const auto& [v, k] : count)  // ascending: the smallest layer wins ties
    if (k > best_count) best = v, best_count = k;
  return best;
}

std::vector<StageSegment> segments_of(int c, int m, int L) {
  return {{"rapid_evolution", 1, c}, {"stabilization", c + 1, m - 1}, {"mutation", m, L}};
}

// The fixed method's critical layer and window, checked against L. Fills result.config.
void resolve_fixed(const StageOptions& o, int L, StageResult& r) {
  int c = o.critical_layer, first = o.window_first, last = o.window_last;
  if (c == 0) {
    if (!o.config)
      throw UsageError("--stages fixed needs a critical layer: pass --critical-layer N or --stage-config FILE "
                       "(per-model files are in configs/)");
    const StageConfig& k = *o.config;
    if (k.num_layers != L)
      throw InputError(k.path, "made for a model with " + std::to_string(k.num_layers) + " layers, but this one has " +
                                   std::to_string(L) + "; pass --critical-layer N or the file for this model");
    c = k.critical_layer, r.config = k.path;
    if (first == 0 && last == 0) first = k.window_first, last = k.window_last;
  }
  if (c < 1 || c > L - 1)
    throw UsageError("--critical-layer " + std::to_string(c) + " is outside [1, " + std::to_string(L - 1) +
                     "] for a model with " + std::to_string(L) + " layers (at least one layer must follow it)");
  first = first ? first : c + 1, last = last ? last : L;
  const std::string window = "mutation window " + std::to_string(first) + "-" + std::to_string(last);
  if (first < 1 || last > L || first > last)
    throw UsageError(window + " is not a range of layers within 1-" + std::to_string(L));
  if (first <= c)
    throw UsageError(window + " must start after the critical layer " + std::to_string(c));
  r.critical_layer = c, r.window_first = first, r.window_last = last;
}

void check_automatic(const StageOptions& o) {
  if (o.critical_layer != 0) throw UsageError("--critical-layer needs --stages fixed");
  if (o.window_first != 0 || o.window_last != 0) throw UsageError("a mutation window needs --stages fixed");
  if (o.config) throw UsageError("--stage-config needs --stages fixed");
}

}  // namespace

const char* stage_method_name(StageOptions::Method method) {
  return method == StageOptions::Method::fixed ? "fixed" : "auto";
}

StageOptions::Method parse_stage_method(const std::string& name) {
  if (name == "auto") return StageOptions::Method::automatic;
  if (name == "fixed") return StageOptions::Method::fixed;
  throw UsageError("--stages: expected auto or fixed, found '" + name + "'");
}

StageOptions stage_options_from_flags(const std::string& method, int critical_layer, const std::string& config_path) {
  StageOptions o;
  o.method = parse_stage_method(method);
  if (critical_layer < 0) throw UsageError("--critical-layer must be a layer number >= 1");
  o.critical_layer = critical_layer;
  if (!config_path.empty()) o.config = load_stage_config(config_path);
  if (o.method == StageOptions::Method::automatic) check_automatic(o);
  return o;
}

StageResult detect_stages(const Matrix& divergences, const StageOptions& options) {
  const int L = validate_divergences(divergences);
  StageResult r;
  r.method = stage_method_name(options.method);
  r.num_layers = L;
  r.aggregate_curve = median_curve(divergences);
  TokenStages aggregate;
  if (options.method == StageOptions::Method::automatic) {
    check_automatic(options);
    aggregate = fit_automatic(r.aggregate_curve);
    r.window_first = aggregate.critical_layer + 1, r.window_last = L;
    for (const auto& row : divergences) r.per_token.push_back(fit_automatic(row));
  } else {
    resolve_fixed(options, L, r);
    aggregate = fit_fixed(r.aggregate_curve, r.critical_layer, r.window_first, r.window_last);
    for (const auto& row : divergences)
      r.per_token.push_back(fit_fixed(row, r.critical_layer, r.window_first, r.window_last));
  }
  r.critical_layer = aggregate.critical_layer;
  r.mutation_layer = aggregate.mutation_layer;
  r.confidence = aggregate.confidence;
  std::vector<int> cs, ms;
  for (const TokenStages& t : r.per_token) cs.push_back(t.critical_layer), ms.push_back(t.mutation_layer);
  r.critical_layer_mode = mode_of(cs);
  r.mutation_layer_mode = mode_of(ms);
  r.segments = segments_of(r.critical_layer, r.mutation_layer, L);
  return r;
}

std::string stage_of_layer(const StageResult& result, int layer) {
  if (layer < 0 || layer > result.num_layers)
    throw UsageError(layer_text(layer) + " is outside 0.." + std::to_string(result.num_layers));
  if (layer == 0) return "embedding";
  for (const StageSegment& s : result.segments)
    if (layer >= s.first_layer && layer <= s.last_layer) return s.name;
  throw UsageError(layer_text(layer) + " is in no stage; the stage result is incomplete");
}

}  // namespace lvlm
