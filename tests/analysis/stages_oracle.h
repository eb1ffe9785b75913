// The slow oracle for the fit that locates the knee (docs/stages.md, "The fit"), restated plainly
// with no prefix sums and no suffix scans: every (c, k, m) triple is tried and m is kept only where
// it is the argmax over (c, L]; the family without a spike is tried for every (c, k).
// stages_test.cc compares its c with the fast implementation's candidate.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace lvlm::stages_oracle {

using Matrix = std::vector<std::vector<double>>;

struct Fit {
  int c = 0, k = 0, m = 0;
  double sse = 0;
  int params = 0;
};

inline double mean(const std::vector<double>& x, int first, int last) {
  double s = 0;
  for (int l = first; l <= last; ++l) s += x[l - 1];
  return s / (last - first + 1);
}

inline double level_sse(const std::vector<double>& x, int first, int last) {
  if (last < first) return 0;
  const double mu = mean(x, first, last);
  double s = 0;
  for (int l = first; l <= last; ++l) s += (x[l - 1] - mu) * (x[l - 1] - mu);
  return s;
}

inline double line_sse(const std::vector<double>& x, int first, int last) {
  const double lbar = 0.5 * (first + last), xbar = mean(x, first, last);
  double sll = 0, slx = 0;
  for (int l = first; l <= last; ++l) sll += (l - lbar) * (l - lbar), slx += (l - lbar) * (x[l - 1] - xbar);
  const double slope = slx / sll;
  double s = 0;
  for (int l = first; l <= last; ++l) {
    const double r = x[l - 1] - (xbar + slope * (l - lbar));
    s += r * r;
  }
  return s;
}

inline int size(int first, int last) { return std::max(0, last - first + 1); }
inline double sloped_sse(const std::vector<double>& x, int first, int last) {
  return size(first, last) >= 3 ? line_sse(x, first, last) : level_sse(x, first, last);
}
inline int sloped_params(int first, int last) { return size(first, last) >= 3 ? 2 : std::min(size(first, last), 1); }

// Round-off of the log values: 1e-13 of the largest in size.
inline double rounding(const std::vector<double>& x) {
  double r = 0;
  for (double v : x) r = std::max(r, 1e-13 * std::fabs(v));
  return r;
}
// SSEs closer than this are tied.
inline double sse_tie(const std::vector<double>& x) {
  return 1e-10 * level_sse(x, 1, static_cast<int>(x.size())) + x.size() * rounding(x) * rounding(x);
}

inline int argmax(const std::vector<double>& d, int first, int last) {
  double top = 0;
  for (int l = first; l <= last; ++l) top = std::max(top, d[l - 1]);
  for (int l = first; l <= last; ++l)
    if (d[l - 1] >= top - 1e-9 * top) return l;
  return first;
}

inline std::vector<double> logs(const std::vector<double>& d) {
  double top = 0, smallest = INFINITY;
  for (double v : d) top = std::max(top, v), smallest = v > 0 ? std::min(smallest, v) : smallest;
  std::vector<double> x(d.size(), 0.0);
  if (top == 0) return x;
  const double floor = std::max(0.5 * smallest, 1e-6 * top);
  for (size_t i = 0; i < d.size(); ++i) x[i] = std::log(std::max(d[i], floor));
  return x;
}

// [1, n] as rapid [1, c] | plateau [c+1, k-1] | rise [k, n].
inline Fit cut(const std::vector<double>& x, int c, int k, int n) {
  Fit f;
  f.c = c, f.k = k;
  const double spread = std::sqrt(level_sse(x, 1, static_cast<int>(x.size())) / x.size());
  const double tie = 1e-9 * spread + rounding(x);
  if (size(c + 1, k - 1) > 0 && size(k, n) > 0 && mean(x, k, n) < mean(x, c + 1, k - 1) - tie)
    f.sse = INFINITY;  // the plateau must be the valley
  else
    f.sse = sloped_sse(x, 1, c) + level_sse(x, c + 1, k - 1) + sloped_sse(x, k, n);
  const int pieces = 1 + (size(c + 1, k - 1) > 0) + (size(k, n) > 0);
  f.params = sloped_params(1, c) + (size(c + 1, k - 1) > 0) + sloped_params(k, n) + pieces - 1;
  return f;
}

// The cut of the whole curve for (c, k, m): spike at m, tail [m+1, L] as one level.
inline Fit whole(const std::vector<double>& x, int c, int k, int m) {
  const int L = static_cast<int>(x.size());
  Fit f = cut(x, c, k, m - 1);
  f.m = m, f.sse += level_sse(x, m + 1, L), f.params += 2 + (m < L);  // the spike: value and boundary
  return f;
}

// Every (c, m) pair with 1 <= c < m <= L kept when `valid`, and (c, 0) without a spike; every k;
// smallest SSE + penalty x parameters, then fewer parameters, then the earliest c and k.
template <typename Valid>
Fit search(const std::vector<double>& x, Valid valid, double penalty) {
  const int L = static_cast<int>(x.size());
  const double tie = sse_tie(x);
  Fit best;
  double best_score = 0;
  auto consider = [&](const Fit& f) {
    const double score = f.sse + penalty * f.params;
    if (best.c == 0 || score < best_score - tie || (score <= best_score + tie && f.params < best.params))
      best = f, best_score = score;
  };
  for (int c = 1; c < L; ++c) {
    for (int m = c + 1; m <= L; ++m) {
      if (!valid(c, m)) continue;
      for (int k = c + 1; k <= m; ++k) consider(whole(x, c, k, m));
    }
    if (valid(c, 0))
      for (int k = c + 1; k <= L + 1; ++k) consider(cut(x, c, k, L));  // no spike
  }
  return best;
}

// Mallows' Cp with sigma^2 from the unpenalised best fit.
template <typename Valid>
Fit select(const std::vector<double>& x, Valid valid) {
  const int L = static_cast<int>(x.size());
  const Fit raw = search(x, valid, 0.0);
  const int dof = L - raw.params - 1;
  if (dof < 1 || raw.sse <= sse_tie(x)) return raw;
  return search(x, valid, 2 * raw.sse / dof);
}

inline Fit automatic(const std::vector<double>& d) {
  const int L = static_cast<int>(d.size());
  const std::vector<double> x = logs(d);
  // m = 0: the family without a spike, tried for every c.
  return select(x, [&](int c, int m) { return m == 0 || m == argmax(d, c + 1, L); });
}

inline Fit fixed(const std::vector<double>& d, int c, int first, int last) {
  const std::vector<double> x = logs(d);
  const int m = argmax(d, first, last);
  return select(x, [&](int cc, int mm) { return cc == c && (mm == 0 || mm == m); });
}

inline std::vector<double> median(const Matrix& d) {
  std::vector<double> out;
  for (size_t l = 0; l < d[0].size(); ++l) {
    std::vector<double> col;
    for (const auto& row : d) col.push_back(row[l]);
    std::sort(col.begin(), col.end());
    const size_t n = col.size();
    out.push_back(n % 2 ? col[n / 2] : (col[n / 2 - 1] + col[n / 2]) / 2);
  }
  return out;
}

}  // namespace lvlm::stages_oracle
