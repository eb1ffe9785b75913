// 2-D embeddings of feature vectors: exact t-SNE (van der Maaten & Hinton, JMLR 2008, with the
// optimiser settings of scikit-learn's TSNE: early exaggeration 12 for 250 steps, momentum
// 0.5 then 0.8, per-parameter gains, learning rate max(n / 48, 50)) and PCA by subspace
// iteration. Both are deterministic: every sum runs in a fixed order (rows may be split over
// threads, but each row is summed by one thread), and the random numbers come from our own
// generator rather than std:: distributions, whose output differs between standard libraries.
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/threads.h"

namespace lvlm {
namespace {

// splitmix64 and Box-Muller: the same numbers on every platform.
struct Random {
  uint64_t state;
  explicit Random(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) / 9007199254740992.0; }  // (0, 1)
  double normal() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()); }
};

// Runs body(first, last) over [0, n) in contiguous row blocks, one per thread.
template <typename Body>
void parallel_rows(size_t n, const Body& body) {
  const size_t threads = std::clamp<size_t>(usable_cores(), 1, 8);
  if (threads == 1 || n < 256) return body(size_t{0}, n);
  std::vector<std::thread> pool;
  const size_t block = (n + threads - 1) / threads;
  for (size_t first = 0; first < n; first += block) pool.emplace_back(body, first, std::min(n, first + block));
  for (auto& t : pool) t.join();
}

// ---- PCA -----------------------------------------------------------------------------------

using Matrix = std::vector<double>;  // row-major

// Eigen-decomposition of a small symmetric b x b matrix by cyclic Jacobi rotations. Returns the
// eigenvalues; `vectors` gets the eigenvectors as columns. Sorted by decreasing eigenvalue.
std::vector<double> jacobi_eigen(Matrix a, size_t b, Matrix& vectors) {
  vectors.assign(b * b, 0.0);
  for (size_t i = 0; i < b; ++i) vectors[i * b + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (size_t p = 0; p < b; ++p)
      for (size_t q = p + 1; q < b; ++q) off += a[p * b + q] * a[p * b + q];
    if (off < 1e-30) break;
    for (size_t p = 0; p < b; ++p)
      for (size_t q = p + 1; q < b; ++q) {
        if (a[p * b + q] == 0) continue;
        const double theta = (a[q * b + q] - a[p * b + p]) / (2 * a[p * b + q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (size_t k = 0; k < b; ++k) {  // A <- A J, then A <- J^T A
          const double akp = a[k * b + p], akq = a[k * b + q];
          a[k * b + p] = c * akp - s * akq;
          a[k * b + q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < b; ++k) {
          const double apk = a[p * b + k], aqk = a[q * b + k];
          a[p * b + k] = c * apk - s * aqk;
          a[q * b + k] = s * apk + c * aqk;
        }
        for (size_t k = 0; k < b; ++k) {
          const double vkp = vectors[k * b + p], vkq = vectors[k * b + q];
          vectors[k * b + p] = c * vkp - s * vkq;
          vectors[k * b + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<size_t> order(b);
  for (size_t i = 0; i < b; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return a[x * b + x] > a[y * b + y]; });
  std::vector<double> values(b);
  Matrix sorted(b * b);
  for (size_t j = 0; j < b; ++j) {
    values[j] = a[order[j] * b + order[j]];
    for (size_t k = 0; k < b; ++k) sorted[k * b + j] = vectors[k * b + order[j]];
  }
  vectors = std::move(sorted);
  return values;
}

// Orthonormalises the b columns of v (dim x b) by modified Gram-Schmidt, twice for accuracy;
// a column that vanishes (rank-deficient data) is replaced by a fresh random direction.
void orthonormalize(Matrix& v, size_t dim, size_t b, Random& rng) {
  for (size_t j = 0; j < b; ++j) {
    for (int attempt = 0;; ++attempt) {
      for (int pass = 0; pass < 2; ++pass)
        for (size_t i = 0; i < j; ++i) {
          double dot = 0;
          for (size_t d = 0; d < dim; ++d) dot += v[d * b + i] * v[d * b + j];
          for (size_t d = 0; d < dim; ++d) v[d * b + j] -= dot * v[d * b + i];
        }
      double norm = 0;
      for (size_t d = 0; d < dim; ++d) norm += v[d * b + j] * v[d * b + j];
      if (norm > 1e-24 || attempt == 3) {
        norm = std::sqrt(std::max(norm, 1e-300));
        for (size_t d = 0; d < dim; ++d) v[d * b + j] /= norm;
        break;
      }
      for (size_t d = 0; d < dim; ++d) v[d * b + j] = rng.normal();
    }
  }
}

struct Centered {
  const std::vector<float>& data;
  size_t n, dim;
  std::vector<double> mean;
};

// y = (X - mean) v: n x b.
Matrix project(const Centered& x, const Matrix& v, size_t b) {
  std::vector<double> offset(b, 0.0);  // mean . v_j
  for (size_t d = 0; d < x.dim; ++d)
    for (size_t j = 0; j < b; ++j) offset[j] += x.mean[d] * v[d * b + j];
  Matrix y(x.n * b, 0.0);
  parallel_rows(x.n, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i) {
      const float* row = &x.data[i * x.dim];
      double* out = &y[i * b];
      for (size_t d = 0; d < x.dim; ++d)
        for (size_t j = 0; j < b; ++j) out[j] += row[d] * v[d * b + j];
      for (size_t j = 0; j < b; ++j) out[j] -= offset[j];
    }
  });
  return y;
}

// w = (X - mean)^T y: dim x b. Split over dimensions, so each output sums rows in order.
Matrix back_project(const Centered& x, const Matrix& y, size_t b) {
  std::vector<double> column_sums(b, 0.0);
  for (size_t i = 0; i < x.n; ++i)
    for (size_t j = 0; j < b; ++j) column_sums[j] += y[i * b + j];
  Matrix w(x.dim * b, 0.0);
  parallel_rows(x.dim, [&](size_t first, size_t last) {
    for (size_t i = 0; i < x.n; ++i) {
      const float* row = &x.data[i * x.dim];
      for (size_t d = first; d < last; ++d)
        for (size_t j = 0; j < b; ++j) w[d * b + j] += row[d] * y[i * b + j];
    }
    for (size_t d = first; d < last; ++d)
      for (size_t j = 0; j < b; ++j) w[d * b + j] -= x.mean[d] * column_sums[j];
  });
  return w;
}

// ---- t-SNE ---------------------------------------------------------------------------------

constexpr double kExaggeration = 12.0;
constexpr int kExaggerationSteps = 250;
constexpr double kMinGain = 0.01;

std::vector<double> squared_distances(const std::vector<float>& data, size_t n, size_t dim) {
  std::vector<double> d(n * n, 0.0);
  parallel_rows(n, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i)
      for (size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const float* a = &data[i * dim];
        const float* b = &data[j * dim];
        double s = 0;
        for (size_t k = 0; k < dim; ++k) {
          const double diff = double(a[k]) - double(b[k]);
          s += diff * diff;
        }
        d[i * n + j] = s;
      }
  });
  return d;
}

// Row i of P_{j|i} = exp(-beta d_ij) / sum, with beta found by bisection so that the row's
// perplexity exp(H) equals `perplexity` (van der Maaten's x2p). Distances are shifted by the
// row's smallest so that far-off rows do not underflow to all zeros.
void conditional_row(const double* d, size_t n, size_t i, double perplexity, double* p) {
  const double target = std::log(perplexity);
  double nearest = std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < n; ++j)
    if (j != i) nearest = std::min(nearest, d[j]);
  double beta = 1.0, lo = 0.0, hi = std::numeric_limits<double>::infinity();
  for (int step = 0; step < 200; ++step) {
    double sum = 0, weighted = 0;
    for (size_t j = 0; j < n; ++j) {
      p[j] = j == i ? 0.0 : std::exp(-beta * (d[j] - nearest));
      sum += p[j];
      weighted += p[j] * (d[j] - nearest);
    }
    const double entropy = std::log(sum) + beta * weighted / sum;
    for (size_t j = 0; j < n; ++j) p[j] /= sum;
    if (std::fabs(entropy - target) < 1e-5) break;
    if (entropy > target) {  // too flat: sharpen
      lo = beta;
      beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
    } else {
      hi = beta;
      beta = (beta + lo) / 2;
    }
  }
}

// Symmetrised joint probabilities p_ij = (p_{j|i} + p_{i|j}) / 2n, floored at 1e-12.
std::vector<double> joint_probabilities(const std::vector<float>& data, size_t n, size_t dim, double perplexity) {
  std::vector<double> p = squared_distances(data, n, dim);
  std::vector<double> conditional(n * n);
  parallel_rows(n, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i) conditional_row(&p[i * n], n, i, perplexity, &conditional[i * n]);
  });
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      p[i * n + j] = i == j ? 0.0 : std::max((conditional[i * n + j] + conditional[j * n + i]) / (2.0 * n), 1e-12);
  return p;
}

struct Layout {
  std::vector<double> x, y;
};

// Student-t weights w_ij = 1 / (1 + |y_i - y_j|^2): their total Z, and the gradient
// dC/dy_i = 4 sum_j (exaggeration p_ij - w_ij / Z) w_ij (y_i - y_j).
double gradient(const std::vector<double>& p, const Layout& y, double exaggeration, std::vector<double>& gx,
                std::vector<double>& gy) {
  const size_t n = y.x.size();
  std::vector<double> row_z(n, 0.0);
  parallel_rows(n, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i)
      for (size_t j = 0; j < n; ++j) {
        const double dx = y.x[i] - y.x[j], dy = y.y[i] - y.y[j];
        if (j != i) row_z[i] += 1.0 / (1.0 + dx * dx + dy * dy);
      }
  });
  double z = 0;
  for (double v : row_z) z += v;
  parallel_rows(n, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i) {
      double sx = 0, sy = 0;
      for (size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double dx = y.x[i] - y.x[j], dy = y.y[i] - y.y[j];
        const double w = 1.0 / (1.0 + dx * dx + dy * dy);
        const double coefficient = (exaggeration * p[i * n + j] - w / z) * w;
        sx += coefficient * dx;
        sy += coefficient * dy;
      }
      gx[i] = 4 * sx;
      gy[i] = 4 * sy;
    }
  });
  return z;
}

double kl_divergence(const std::vector<double>& p, const Layout& y, double z) {
  const size_t n = y.x.size();
  double kl = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double dx = y.x[i] - y.x[j], dy = y.y[i] - y.y[j];
      const double q = std::max(1.0 / (1.0 + dx * dx + dy * dy) / z, 1e-300);
      kl += p[i * n + j] * std::log(p[i * n + j] / q);
    }
  return kl;
}

// One gradient-descent step with momentum and per-parameter gains (delta-bar-delta, Jacobs 1988).
void descend(std::vector<double>& position, std::vector<double>& update, std::vector<double>& gains,
             const std::vector<double>& grad, double momentum, double rate) {
  for (size_t i = 0; i < position.size(); ++i) {
    gains[i] = (grad[i] > 0) != (update[i] > 0) ? gains[i] + 0.2 : std::max(gains[i] * 0.8, kMinGain);
    update[i] = momentum * update[i] - rate * gains[i] * grad[i];
    position[i] += update[i];
  }
}

Embedding tsne(const std::vector<float>& data, size_t n, size_t dim, const EmbeddingOptions& o) {
  Embedding e;
  e.perplexity = std::clamp(o.perplexity, 1.0, std::max(1.0, (static_cast<double>(n) - 1) / 3));
  if (n < 2) {
    e.points.assign(n, {0.0, 0.0});
    return e;
  }
  const std::vector<double> p = joint_probabilities(data, n, dim, e.perplexity);
  Random rng(o.seed);
  Layout y{std::vector<double>(n), std::vector<double>(n)};
  for (size_t i = 0; i < n; ++i) y.x[i] = 1e-4 * rng.normal(), y.y[i] = 1e-4 * rng.normal();
  std::vector<double> gx(n), gy(n), ux(n, 0.0), uy(n, 0.0), kx(n, 1.0), ky(n, 1.0);
  const double rate = std::max(static_cast<double>(n) / kExaggeration / 4, 50.0);
  for (int step = 0; step < o.iterations; ++step) {
    const bool early = step < kExaggerationSteps;
    gradient(p, y, early ? kExaggeration : 1.0, gx, gy);
    descend(y.x, ux, kx, gx, early ? 0.5 : 0.8, rate);
    descend(y.y, uy, ky, gy, early ? 0.5 : 0.8, rate);
  }
  std::vector<double> fx(n), fy(n);
  e.kl_divergence = kl_divergence(p, y, gradient(p, y, 1.0, fx, fy));
  for (size_t i = 0; i < n; ++i) e.points.push_back({y.x[i], y.y[i]});
  return e;
}

Embedding pca(const std::vector<float>& data, size_t n, size_t dim, uint64_t seed) {
  Embedding e;
  const PrincipalAxes axes = principal_axes(data, dim, 2, seed);
  std::vector<double> mean(dim, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t d = 0; d < dim; ++d) mean[d] += data[i * dim + d];
  for (double& m : mean) m /= static_cast<double>(n);
  for (size_t i = 0; i < n; ++i) {
    std::array<double, 2> point = {0, 0};
    for (size_t k = 0; k < axes.axes.size(); ++k)
      for (size_t d = 0; d < dim; ++d) point[k] += (data[i * dim + d] - mean[d]) * axes.axes[k][d];
    e.points.push_back(point);
  }
  for (size_t k = 0; k < axes.variances.size(); ++k) e.variance[k] = axes.variances[k];
  return e;
}

}  // namespace

const char* embedding_method_name(EmbeddingMethod method) { return method == EmbeddingMethod::tsne ? "tsne" : "pca"; }

EmbeddingMethod parse_embedding_method(const std::string& name) {
  if (name == "tsne") return EmbeddingMethod::tsne;
  if (name == "pca") return EmbeddingMethod::pca;
  throw UsageError("--embedding: '" + name + "' is not a method (tsne, pca)");
}

PrincipalAxes principal_axes(const std::vector<float>& data, size_t dim, int k, uint64_t seed) {
  PrincipalAxes out;
  const size_t n = dim ? data.size() / dim : 0;
  const size_t wanted = std::min<size_t>(static_cast<size_t>(std::max(k, 0)), dim);
  if (n < 2 || wanted == 0) return out;
  Centered x{data, n, dim, std::vector<double>(dim, 0.0)};
  for (size_t i = 0; i < n; ++i)
    for (size_t d = 0; d < dim; ++d) x.mean[d] += data[i * dim + d];
  for (double& m : x.mean) m /= static_cast<double>(n);
  // A few extra vectors make the top k converge at the rate lambda_{b+1} / lambda_k.
  const size_t b = std::min(wanted + 6, dim);
  Random rng(seed ^ 0x5ca1ab1eull);
  Matrix v(dim * b);
  for (double& value : v) value = rng.normal();
  orthonormalize(v, dim, b, rng);
  Matrix ritz, previous;
  std::vector<double> values, previous_values;
  int stable_values = 0;  // iterations in a row whose top-k Ritz values did not move
  for (int iteration = 0; iteration < 1000; ++iteration) {
    const Matrix y = project(x, v, b);
    Matrix t(b * b, 0.0), s;  // Rayleigh-Ritz on the subspace: T = Y^T Y
    for (size_t i = 0; i < n; ++i)
      for (size_t p = 0; p < b; ++p)
        for (size_t q = 0; q < b; ++q) t[p * b + q] += y[i * b + p] * y[i * b + q];
    values = jacobi_eigen(t, b, s);
    ritz.assign(dim * b, 0.0);
    for (size_t d = 0; d < dim; ++d)
      for (size_t j = 0; j < b; ++j)
        for (size_t q = 0; q < b; ++q) ritz[d * b + j] += v[d * b + q] * s[q * b + j];
    double change = previous.empty() ? 1.0 : 0.0;
    for (size_t j = 0; j < wanted && !previous.empty(); ++j) {
      double dot = 0;
      for (size_t d = 0; d < dim; ++d) dot += ritz[d * b + j] * previous[d * b + j];
      change = std::max(change, 1.0 - std::fabs(dot));
    }
    // With (nearly) equal eigenvalues the vectors may turn inside their plane for ever while
    // the values, which converge twice as fast, have settled.
    double moved = previous_values.empty() ? 1.0 : 0.0;
    for (size_t j = 0; j < wanted && !previous_values.empty(); ++j)
      moved = std::max(moved, std::fabs(values[j] - previous_values[j]) / std::max(std::fabs(values[0]), 1e-300));
    stable_values = moved < 1e-15 ? stable_values + 1 : 0;
    if (change < 1e-12 || stable_values >= 3) break;
    previous = ritz;
    previous_values = values;
    v = back_project(x, project(x, ritz, b), b);
    orthonormalize(v, dim, b, rng);
  }
  for (size_t j = 0; j < wanted; ++j) {
    std::vector<double> axis(dim);
    size_t largest = 0;
    for (size_t d = 0; d < dim; ++d) {
      axis[d] = ritz[d * b + j];
      if (std::fabs(axis[d]) > std::fabs(axis[largest])) largest = d;
    }
    if (axis[largest] < 0)
      for (double& a : axis) a = -a;
    out.axes.push_back(std::move(axis));
    out.variances.push_back(std::max(values[j], 0.0) / static_cast<double>(n - 1));
  }
  return out;
}

Embedding embed_2d(const std::vector<float>& data, size_t dim, const EmbeddingOptions& options) {
  if (dim == 0 || data.size() % dim != 0)
    throw UsageError("embedding: " + std::to_string(data.size()) + " values are not rows of " + std::to_string(dim));
  if (options.iterations < 1) throw UsageError("embedding: iterations must be at least 1");
  if (!(options.perplexity > 0)) throw UsageError("--perplexity must be positive");
  const size_t n = data.size() / dim;
  if (options.method == EmbeddingMethod::pca) {
    Embedding e = pca(data, n, dim, options.seed);
    if (e.points.size() != n) e.points.assign(n, {0.0, 0.0});  // fewer than 2 points
    return e;
  }
  return tsne(data, n, dim, options);
}

}  // namespace lvlm
