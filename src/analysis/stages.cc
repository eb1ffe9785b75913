// Stage boundaries from adjacent-layer divergences: outcomes and their confidences. The fit
// that locates the knee is in stage_fit.h; what the outcomes mean for users is in
// docs/stages.md ("Outcomes and confidence").
//
// For each curve (the per-layer median over tokens, or one token's row):
// - critical layer: the fit's c, *determined* when the knee model beats one straight trend over
//   the same layers by more than the noise allows (critical_confidence >= 0.5);
// - mutation layer: the largest d after c (the authors' rule), *present* when it stands above the
//   stabilization plateau by more than the noise allows (mutation_confidence >= 0.5).
// The noise of one value of log d comes from the spread of the tokens around each other (with 3
// or more tokens) and from the fit's residuals; the larger counts.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/common.h"
#include "stage_fit.h"

namespace lvlm {
namespace {

using Curves = std::vector<std::vector<double>>;
using stage_fit::Candidate;
using stage_fit::Moments;
using stage_fit::SegmentFits;

// The knee statistic F (improvement per extra parameter over the noise variance) at which the
// critical confidence is 0.5: a straight trend plus noise stays below it in about 99% of cases
// (docs/stages.md, "Confidence").
constexpr double kKneeScale = 8.0;
// MAD -> standard deviation for normal noise.
constexpr double kMadToSigma = 1.4826;

std::string layer_text(int layer) { return "layer " + std::to_string(layer); }

std::string number_text(double v) {
  std::ostringstream out;
  out << v;  // shortest readable form: 0.25, -0.5, nan, inf
  return out.str();
}

// Returns L; InputError for matrices the fit cannot use.
int validate_divergences(const Curves& d) {
  const std::string what = "stage detection: ";
  if (d.empty()) throw InputError(what + "no tokens (the divergence matrix is empty)");
  const size_t L = d[0].size();
  if (L < 1) throw InputError(what + "no layers (token 0 has no divergences)");
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

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// Median over tokens per layer (the mean of the two middle values for an even count): one token
// with absurd values cannot move it when there are 3 or more tokens.
std::vector<double> median_curve(const Curves& d) {
  std::vector<double> out(d[0].size()), column(d.size());
  for (size_t l = 0; l < out.size(); ++l) {
    for (size_t t = 0; t < d.size(); ++t) column[t] = d[t][l];
    out[l] = median_of(column);
  }
  return out;
}

// The noise of one token's log d at one layer, from how the tokens spread around each other:
// each token's log curve is centred on its own median (a token's overall level is not noise),
// the spread per layer is the MAD over tokens, and the median over layers keeps a few layers
// where tokens genuinely differ (their knees) from counting. 0 with fewer than 3 tokens.
double token_noise(const Curves& d, int n) {
  if (d.size() < 3) return 0;
  Curves x;
  for (const auto& row : d) {
    std::vector<double> lx = stage_fit::log_curve(row);
    lx.resize(static_cast<size_t>(n));
    const double centre = median_of(lx);
    for (double& v : lx) v -= centre;
    x.push_back(lx);
  }
  std::vector<double> spreads, column(x.size());
  for (int l = 0; l < n; ++l) {
    for (size_t t = 0; t < x.size(); ++t) column[t] = x[t][l];
    const double mid = median_of(column);
    std::vector<double> dev;
    for (double v : column) dev.push_back(std::fabs(v - mid));
    spreads.push_back(kMadToSigma * median_of(dev));
  }
  return median_of(spreads);
}

// The noise of one value of x from the chosen model's residuals, robustly: 1.4826 x the median
// absolute residual, scaled up for the parameters the fit spent (sqrt(N / (N - p))). A median,
// so that a second peak or one odd layer the model has no piece for does not pass for noise.
double residual_noise(const std::vector<double>& x, const Candidate& fit, int n) {
  std::vector<double> residuals;
  auto piece = [&](int first, int last, bool sloped) {
    if (last < first) return;
    double ml = 0, mx = 0;
    for (int l = first; l <= last; ++l) ml += l, mx += x[l - 1];
    const int count = last - first + 1;
    ml /= count, mx /= count;
    double sll = 0, slx = 0;
    for (int l = first; l <= last; ++l) sll += (l - ml) * (l - ml), slx += (l - ml) * (x[l - 1] - mx);
    const double slope = sloped && count >= 3 ? slx / sll : 0.0;
    for (int l = first; l <= last; ++l) residuals.push_back(std::fabs(x[l - 1] - (mx + slope * (l - ml))));
  };
  piece(1, fit.c, true);
  piece(fit.c + 1, fit.k - 1, false);
  piece(fit.k, fit.rise_end(n), true);
  if (fit.spike()) piece(fit.m + 1, n, false);
  const int N = static_cast<int>(residuals.size()), dof = N - fit.cut.params;
  if (N == 0 || dof < 1) return 0;
  return kMadToSigma * median_of(residuals) * std::sqrt(static_cast<double>(N) / dof);
}

// The second piece of the knee: stabilization when the fit has one, else what follows rapid
// evolution (a late rise, or the tail after a spike right at c + 1). Empty when nothing does.
Moments after_knee(const SegmentFits& f, const Candidate& x, bool* sloped) {
  const int n = f.layers();
  *sloped = false;
  if (x.k - 1 >= x.c + 1) return f.over(x.c + 1, x.k - 1);
  if (x.rise_end(n) >= x.c + 1) return *sloped = true, f.over(x.c + 1, x.rise_end(n));
  if (x.spike() && x.m < n) return f.over(x.m + 1, n);
  return {};
}

// A knee flattens the curve: the layers after it must not fall significantly faster than rapid
// evolution did (four standard errors of the slope difference). A fall that steepens, such as a
// decay linear in d (concave in log d), has no layer where the distribution settles.
bool falls_faster_after(const Moments& rapid, const Moments& after, double sigma2, double tie) {
  if (rapid.n < 3 || after.n < 3) return false;
  const double se = std::sqrt(sigma2 * (1 / rapid.sll() + 1 / after.sll()));
  return after.slope() < rapid.slope() - 4 * se - tie;
}

// Critical confidence (docs/stages.md): the knee model (rapid evolution, then the piece after
// it) against one straight trend over the same layers. F = (SSE_trend - SSE_knee) / (extra
// parameters x sigma^2), confidence = 1 - 2^(-F / kKneeScale). 0 when the layers after the knee
// lie above rapid evolution (an increasing curve has no knee), fall faster than it, or too few
// layers remain to judge.
double critical_confidence(const SegmentFits& f, const Candidate& x, double sigma2) {
  bool sloped = false;
  const Moments rapid = f.over(1, x.c), after = after_knee(f, x, &sloped);
  if (after.n == 0 || rapid.mean() <= after.mean() + f.mean_tie()) return 0;
  if (falls_faster_after(rapid, after, sigma2, f.mean_tie())) return 0;
  const Moments both = rapid + after;
  const int params = rapid.sloped_params() + (sloped ? after.sloped_params() : 1) + 1;
  if (both.n < params + 1) return 0;
  const double with = rapid.sloped_sse() + (sloped ? after.sloped_sse() : after.level_sse());
  const double gain = both.sloped_sse() - with;
  if (gain <= f.sse_tie()) return 0;
  const double extra = std::max(1, params - both.sloped_params());
  if (sigma2 <= f.sse_tie() / f.layers()) return 1;
  return 1 - std::exp2(-gain / (extra * sigma2) / kKneeScale);
}

// The jump statistic's threshold for the largest of `n` candidate layers: about the 99th
// percentile of (largest of n noise values - median of the rest) / sigma.
double jump_scale(int n) { return std::sqrt(2 * std::log(std::max(n, 2))) + 1.5; }

// Mutation confidence (docs/stages.md): z = (x_m - plateau level) / noise, with the plateau the
// fit's stabilization layers other than m (else the layers between c and m, else all layers after
// c but m, whichever first has 2) and the noise the larger of sigma and the plateau's own spread (1.4826 MAD, from 3
// layers). Confidence = 1 - 2^(-(z / z0)^2), z0 = jump_scale(window size).
double mutation_confidence(const std::vector<double>& x, const SegmentFits& f, const Candidate& fit, int m,
                           int window_size, double sigma) {
  const int n = f.layers();
  std::vector<double> plateau;
  auto collect = [&](int first, int last) {
    for (int l = first; l <= last; ++l)
      if (l != m) plateau.push_back(x[l - 1]);
  };
  collect(fit.c + 1, fit.k - 1);
  if (plateau.size() < 2) plateau.clear(), collect(fit.c + 1, m - 1);
  if (plateau.size() < 2) plateau.clear(), collect(fit.c + 1, n);
  if (plateau.empty()) return 0;
  const double level = median_of(plateau);
  double spread = 0;
  if (plateau.size() >= 3) {
    std::vector<double> dev;
    for (double v : plateau) dev.push_back(std::fabs(v - level));
    spread = kMadToSigma * median_of(dev);
  }
  const double jump = x[m - 1] - level, noise = std::max(sigma, spread);
  if (jump <= f.mean_tie()) return 0;
  if (noise <= f.mean_tie()) return 1;
  const double z = jump / noise / jump_scale(window_size);
  return 1 - std::exp2(-z * z);
}

// How one curve is searched: its fitted layers and, for the fixed method, c and the window.
struct Search {
  int n = 0;                   // layers 1..n are fitted (L, or L-1 without the final-norm step)
  int fixed_c = 0;             // 0: auto
  int first = 0, last = 0;     // fixed: the mutation window, last clipped to n (empty: first > last)
};

// One curve's outcome. `noise`: the token-spread noise of one value of this curve (0 = unknown).
TokenStages judge_curve(const std::vector<double>& d, const Search& s, double noise) {
  TokenStages out;
  if (s.n < 2) return out;  // no room for a knee
  const std::vector<double> x = stage_fit::log_curve(std::vector<double>(d.begin(), d.begin() + s.n));
  const SegmentFits f(x);
  std::vector<int> mutation;
  if (s.fixed_c) {
    mutation.assign(static_cast<size_t>(s.n) + 1, 0);
    if (s.first <= s.last) mutation[s.fixed_c] = stage_fit::argmax_layer(d, s.first, s.last);
  } else {
    mutation = stage_fit::suffix_argmax(d, s.n);
  }
  const int c_first = s.fixed_c ? s.fixed_c : 1, c_last = s.fixed_c ? s.fixed_c : s.n - 1;
  const Candidate fit = stage_fit::select_candidate(f, c_first, c_last, mutation);
  const double residual = residual_noise(x, fit, s.n);
  const double sigma2 = std::max(noise * noise, residual * residual);
  out.critical_candidate = fit.c;
  out.critical_confidence = critical_confidence(f, fit, sigma2);
  if (s.fixed_c || out.critical_confidence >= kStageDecision) out.critical_layer = fit.c;
  const int m = mutation[fit.c];
  out.mutation_candidate = m;
  if (m == 0 || !out.critical_layer) return out;  // no window, or no plateau to jump from
  const int window = s.fixed_c ? s.last - s.first + 1 : s.n - fit.c;
  out.mutation_confidence = mutation_confidence(x, f, fit, m, window, std::sqrt(sigma2));
  if (out.mutation_confidence >= kStageDecision) out.mutation_layer = m;
  return out;
}

std::optional<int> mode_of(const std::vector<std::optional<int>>& values) {
  std::map<int, int> count;
  for (const auto& v : values)
    if (v) ++count[*v];
  std::optional<int> best;
  int best_count = 0;
  for (const auto& [v, k] : count)  // ascending: the smallest layer wins ties
    if (k > best_count) best = v, best_count = k;
  return best;
}

std::vector<StageSegment> segments_of(const TokenStages& t, int L) {
  if (!t.critical_layer) return {};
  const int c = *t.critical_layer;
  if (!t.mutation_layer) return {{"rapid_evolution", 1, c}, {"stabilization", c + 1, L}};
  const int m = *t.mutation_layer;
  return {{"rapid_evolution", 1, c}, {"stabilization", c + 1, m - 1}, {"mutation", m, L}};
}

// The fixed method's critical layer and window, checked against L. Fills result.config.
void resolve_fixed(const StageOptions& o, int L, StageResult& r, Search& s) {
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
  r.window_first = first, r.window_last = last;
  s.n = std::max(s.n, c + 1);  // the final-norm step is kept when c leaves nothing else
  s.fixed_c = c, s.first = first, s.last = std::min(last, s.n);
}

void check_automatic(const StageOptions& o) {
  if (o.critical_layer != 0) throw UsageError("--critical-layer needs --stages fixed");
  if (o.window_first != 0 || o.window_last != 0) throw UsageError("a mutation window needs --stages fixed");
  if (o.config) throw UsageError("--stage-config needs --stages fixed");
}

std::optional<FinalNormStep> final_norm_step(const StageOptions& o, const std::vector<double>& curve) {
  if (!o.final_norm_step) return std::nullopt;
  const int L = static_cast<int>(curve.size());
  FinalNormStep step{L, curve.back(), ""};
  step.note = o.search_final_norm_step
                  ? "lens hf: layer " + std::to_string(L) + " applies the final norm that the other layers lack; "
                        "searched for the mutation layer anyway (--final-norm-step include)"
                  : "lens hf: layer " + std::to_string(L) + " applies the final norm that the other layers lack, so "
                        "its divergence measures the norm, not the model; left out of the fit and the mutation search";
  return step;
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

StageResult detect_stages(const Curves& divergences, const StageOptions& options) {
  const int L = validate_divergences(divergences);
  StageResult r;
  r.method = stage_method_name(options.method);
  r.num_layers = L;
  r.aggregate_curve = median_curve(divergences);
  if (L < 2) {
    // One divergence (embedding to layer 1) has no knee: the stages stay undetermined, and the
    // run's report is still written.
    if (options.method != StageOptions::Method::automatic)
      throw UsageError("--stages fixed needs a model of 2 layers or more (a critical layer must be followed by "
                       "one); this one has " + std::to_string(L));
    check_automatic(options);
    r.per_token.resize(divergences.size());
    return r;
  }
  r.final_norm_step = final_norm_step(options, r.aggregate_curve);
  Search s;
  s.n = r.final_norm_step && !options.search_final_norm_step ? L - 1 : L;
  if (options.method == StageOptions::Method::automatic) check_automatic(options);
  else resolve_fixed(options, L, r, s);
  r.noise = token_noise(divergences, s.n);
  const size_t T = divergences.size();
  // The median of T values is noisier than the mean by sqrt(pi / 2) (for T >= 3).
  const double curve_noise = r.noise * std::sqrt(M_PI / (2.0 * static_cast<double>(T)));
  r.overall = judge_curve(r.aggregate_curve, s, curve_noise);
  if (!s.fixed_c && r.overall.critical_layer) r.window_first = *r.overall.critical_layer + 1, r.window_last = s.n;
  for (const auto& row : divergences) r.per_token.push_back(judge_curve(row, s, r.noise));
  std::vector<std::optional<int>> cs, ms;
  for (const TokenStages& t : r.per_token) cs.push_back(t.critical_layer), ms.push_back(t.mutation_layer);
  r.critical_layer_mode = mode_of(cs);
  r.mutation_layer_mode = mode_of(ms);
  r.segments = segments_of(r.overall, L);
  return r;
}

std::string stage_summary(const StageResult& r) {
  auto outcome = [](const std::optional<int>& layer, const char* missing, double confidence) {
    std::ostringstream out;
    out.precision(2);
    out << std::fixed << (layer ? std::to_string(*layer) : missing) << " (confidence " << confidence << ")";
    return out.str();
  };
  return "critical layer " + outcome(r.overall.critical_layer, "undetermined", r.overall.critical_confidence) +
         ", mutation layer " + outcome(r.overall.mutation_layer, "absent", r.overall.mutation_confidence) + " of " +
         std::to_string(r.num_layers) + " layers (" + r.method + ")";
}

std::vector<int> stabilization_layers(const StageResult& result) {
  std::vector<int> layers;
  for (const StageSegment& s : result.segments)
    if (s.name == "stabilization")
      for (int l = s.first_layer; l <= s.last_layer; ++l) layers.push_back(l);
  return layers;
}

std::string stage_of_layer(const StageResult& result, int layer) {
  if (layer < 0 || layer > result.num_layers)
    throw UsageError(layer_text(layer) + " is outside 0.." + std::to_string(result.num_layers));
  if (layer == 0) return "embedding";
  if (!result.overall.critical_layer) return "undetermined";
  for (const StageSegment& s : result.segments)
    if (layer >= s.first_layer && layer <= s.last_layer) return s.name;
  throw UsageError(layer_text(layer) + " is in no stage; the stage result is incomplete");
}

}  // namespace lvlm
