// Pillow's convolution resize (src/libImaging/Resample.c, identical in 9.4 and current Pillow),
// reimplemented: per output pixel a window of input pixels with weights filter((x - center) /
// scale), normalised to sum 1, then rounded to integers with PRECISION_BITS = 32 - 8 - 2
// fractional bits; each pass accumulates in int32 from 1 << (PRECISION_BITS - 1), shifts and
// clips to uint8. The horizontal pass runs first, on the input rows the vertical pass needs,
// and its uint8 output feeds the vertical pass. Every double expression below is written in the
// order Pillow evaluates it: the weights must round to the same integers.
#include <cmath>
#include <stdexcept>
#include <vector>

#include "decoders.h"

namespace lvlm {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

struct Filter {
  double (*fn)(double);
  double support;
};

double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // float constants, as Pillow's
}

// Keys' cubic convolution with a = -0.5 (Pillow's bicubic_filter).
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_filter(double x) { return -3.0 <= x && x < 3.0 ? sinc_filter(x) * sinc_filter(x / 3) : 0.0; }

Filter filter_for(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::box:
      return {box_filter, 0.5};
    case ResampleFilter::bilinear:
      return {bilinear_filter, 1.0};
    case ResampleFilter::hamming:
      return {hamming_filter, 1.0};
    case ResampleFilter::bicubic:
      return {bicubic_filter, 2.0};
    case ResampleFilter::lanczos:
      return {lanczos_filter, 3.0};
  }
  throw std::invalid_argument("resize: unknown resampling filter");
}

// Integer weights of one pass: output i reads inputs [first[i], first[i] + count[i]) with
// weights[i * ksize ...]. Pillow's precompute_coeffs + normalize_coeffs_8bpc.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

Coefficients precompute(int in_size, int out_size, const Filter& filter) {
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);  // Pillow's box is float[4]
  double scale = static_cast<double>(in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;  // antialias: widen the kernel when shrinking
  double support = filter.support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as Pillow's (int) cast
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<size_t>(xx) * c.ksize + x] =
          static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

// Pillow's clip8: the accumulator's integer part, clamped to 0..255.
inline uint8_t clip8(int32_t acc) {
  int v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass over input rows [row0, row0 + rows): `in` is width_in x ?, RGB.
std::vector<uint8_t> horizontal(const std::vector<uint8_t>& in, int width_in, int row0, int rows,
                                const Coefficients& c) {
  const int width_out = static_cast<int>(c.first.size());
  std::vector<uint8_t> out(static_cast<size_t>(rows) * width_out * 3);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = in.data() + static_cast<size_t>(row0 + y) * width_in * 3;
    uint8_t* dst = out.data() + static_cast<size_t>(y) * width_out * 3;
    for (int xx = 0; xx < width_out; ++xx) {
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const uint8_t* s = src + static_cast<size_t>(c.first[xx]) * 3;
      int32_t a0 = 1 << (kPrecisionBits - 1), a1 = a0, a2 = a0;
      for (int x = 0; x < c.count[xx]; ++x, s += 3) {
        a0 += s[0] * k[x];
        a1 += s[1] * k[x];
        a2 += s[2] * k[x];
      }
      dst[3 * xx] = clip8(a0), dst[3 * xx + 1] = clip8(a1), dst[3 * xx + 2] = clip8(a2);
    }
  }
  return out;
}

// Vertical pass; c.first is relative to the first row of `in`.
std::vector<uint8_t> vertical(const std::vector<uint8_t>& in, int width, const Coefficients& c, int row_shift) {
  const int height_out = static_cast<int>(c.first.size());
  const size_t stride = static_cast<size_t>(width) * 3;
  std::vector<uint8_t> out(static_cast<size_t>(height_out) * stride);
  for (int yy = 0; yy < height_out; ++yy) {
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    const uint8_t* base = in.data() + static_cast<size_t>(c.first[yy] - row_shift) * stride;
    uint8_t* dst = out.data() + yy * stride;
    for (size_t i = 0; i < stride; ++i) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < c.count[yy]; ++y) acc += base[y * stride + i] * k[y];
      dst[i] = clip8(acc);
    }
  }
  return out;
}

}  // namespace

// ImagingResampleInner: coefficients for both axes first; the horizontal pass only over the
// input rows the vertical window touches; a pass whose size (and box) is unchanged is skipped.
ImageU8 resize(const ImageU8& in, int out_width, int out_height, ResampleFilter filter) {
  if (in.width <= 0 || in.height <= 0 || out_width <= 0 || out_height <= 0)
    throw std::invalid_argument("resize: sizes must be positive");
  if (in.rgb.size() != static_cast<size_t>(in.width) * in.height * 3)
    throw std::invalid_argument("resize: pixel buffer does not match width x height x 3");
  const Filter f = filter_for(filter);
  Coefficients ch = precompute(in.width, out_width, f);
  Coefficients cv = precompute(in.height, out_height, f);
  const int row_first = cv.first.front();
  const int row_last = cv.first.back() + cv.count.back();
  ImageU8 out;
  out.width = out_width;
  out.height = out_height;
  const bool need_h = out_width != in.width, need_v = out_height != in.height;
  if (need_h && need_v) {
    out.rgb = vertical(horizontal(in.rgb, in.width, row_first, row_last - row_first, ch), out_width, cv, row_first);
  } else if (need_h) {
    out.rgb = horizontal(in.rgb, in.width, 0, in.height, ch);
  } else if (need_v) {
    out.rgb = vertical(in.rgb, in.width, cv, 0);
  } else {
    out.rgb = in.rgb;
  }
  return out;
}

}  // namespace lvlm
