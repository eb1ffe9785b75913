// The piecewise fit behind stage detection (docs/stages.md, "The fit"): where the knee of a curve
// lies. Whether that knee, and the jump after it, stand out of the noise is decided in stages.cc.
//
// Every curve (the per-layer median over tokens, or one token's row) is fitted on
// x_l = log(max(d_l, floor)), l = 1..n (n = L, or L-1 when the hf lens's final-norm step is left
// out). For each candidate critical layer c in [1, n-1] two families of models compete:
//   with a spike at m(c) = argmax of d over the mutation window (the authors' rule):
//     rapid evolution [1, c] | plateau [c+1, k-1] | late rise [k, m-1] | spike m | tail [m+1, n]
//   without a spike (a curve that settles and stays, or rises to its end):
//     rapid evolution [1, c] | plateau [c+1, k-1] | late rise [k, n]
// and (family, c, k) minimises SSE + 2 sigma^2 x parameters (Mallows' Cp, sigma^2 from the
// unpenalised best fit; 0 for noiseless curves); ties: fewer parameters, then the earliest c,
// then k.
// - Rapid evolution and the late rise are least-squares lines in log d from 3 layers on: rapid
//   evolution is often an exponential decay (a level would put the break in the middle of it),
//   and the layers before the mutation peak often climb towards it (without their own piece they
//   would drag the plateau and c towards the peak). With 1-2 layers a piece is a level: a line
//   through 1-2 points fits anything, so a boundary could move for free.
// - The plateau is the valley: a late rise whose mean lies below it is refused.
// - The spike is fitted exactly; it costs two parameters (its value and its boundary), so a curve
//   without a jump is not cut around its noisiest layer.
#pragma once

#include <vector>

namespace lvlm::stage_fit {

// Sums of (1, l, l^2, x, l x, x^2) over a set of layers. Additive, so a piece may skip a layer.
struct Moments {
  double n = 0, l = 0, ll = 0, x = 0, lx = 0, xx = 0;
  Moments operator+(const Moments& o) const { return {n + o.n, l + o.l, ll + o.ll, x + o.x, lx + o.lx, xx + o.xx}; }
  double mean() const { return x / n; }
  double level_sse() const;  // about the mean; 0 for fewer than 2 layers
  double line_sse() const;   // about the least-squares line; 0 for fewer than 3 layers
  // A line from 3 layers on, a level below (see the top); 0 when empty.
  double sloped_sse() const { return n >= 3 ? line_sse() : level_sse(); }
  int sloped_params() const { return n >= 3 ? 2 : n >= 1 ? 1 : 0; }
  double sll() const { return ll - l * l / n; }  // spread of the layers about their mean
  double slope() const { return (lx - l * x / n) / sll(); }  // of the least-squares line (n >= 2)
};

// Least-squares residuals of segments of one log curve in O(1) each, from prefix sums over the
// centred values (centring keeps the subtractions well conditioned for any rescaling).
class SegmentFits {
 public:
  explicit SegmentFits(const std::vector<double>& x);
  int layers() const { return static_cast<int>(prefix_.size()) - 1; }
  Moments over(int first, int last) const;  // layers [first, last]; empty when last < first
  double constant_sse(int first, int last) const { return over(first, last).level_sse(); }
  double sloped_sse(int first, int last) const { return over(first, last).sloped_sse(); }
  double mean(int first, int last) const { return over(first, last).mean(); }
  double total_sst() const { return constant_sse(1, layers()); }
  // Residual sums of squares closer than this are tied (1e-10 of the total, or round-off).
  double sse_tie() const;
  // What round-off alone can leave as the residual of `n` layers.
  double round_off(int n) const { return n * rounding_ * rounding_; }
  // Means closer than this are tied (1e-9 of the curve's standard deviation, or round-off).
  double mean_tie() const;

 private:
  std::vector<Moments> prefix_;
  double rounding_ = 0;
};

struct Cut {
  double sse = 0;
  int params = 0;  // fitted values plus one per boundary between non-empty pieces
};

// One model of the whole curve (see the top). m = 0: the family without a spike.
struct Candidate {
  int c = 0, k = 0, m = 0;
  Cut cut;
  bool spike() const { return m > 0; }
  // The last layer of the late rise (k..rise_end; empty when rise_end < k).
  int rise_end(int n) const { return spike() ? m - 1 : n; }
};

// log d with zeros (a skipped block passes the residual through: d = 0) and round-off dust
// raised to max(half the smallest positive value, 1e-6 x the largest). Both scale with the data,
// so rescaling d only shifts x by a constant, which no fit sees.
std::vector<double> log_curve(const std::vector<double>& d);

// Earliest layer in [first, last] (1-based) whose value is within 1e-9 (relative) of the maximum.
int argmax_layer(const std::vector<double>& curve, int first, int last);

// argmax_layer(curve, l + 1, n) for every c = l in [0, n-1], in one backward pass: index c holds
// the window (c, n]'s argmax (n = the fitted layers, at most curve.size()). Same tie rule.
std::vector<int> suffix_argmax(const std::vector<double>& curve, int n);

// The best model over c in [c_first, c_last], with the spike at mutation(c) (0 = no window: only
// the family without a spike). `mutation` is given as a table: mutation[c] for c in the range.
Candidate select_candidate(const SegmentFits& f, int c_first, int c_last, const std::vector<int>& mutation);

}  // namespace lvlm::stage_fit
