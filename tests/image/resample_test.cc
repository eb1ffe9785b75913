// resize() against PIL 9.4's Image.resize on small random images (hashes from
// scripts/reference/make_image_refs.py), and against a plain per-pixel oracle on many sizes.
#include <cmath>
#include <random>

#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"
#include "image_manifest.h"
#include "test_util.h"

namespace lvlm {
namespace {

ImageU8 random_image(int w, int h, std::mt19937& rng) {
  ImageU8 img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng() & 0xFF);
  return img;
}

// ---- The oracle: Pillow's arithmetic spelled out for one output pixel at a time. ------------
double oracle_filter(ResampleFilter f, double x) {
  x = std::fabs(x);
  if (f == ResampleFilter::bilinear) return x < 1.0 ? 1.0 - x : 0.0;
  if (f == ResampleFilter::bicubic)  // Keys, a = -0.5
    return x < 1.0 ? (1.5 * x - 2.5) * x * x + 1 : x < 2.0 ? (((x - 5) * x + 8) * x - 4) * -0.5 : 0.0;
  return 0.0;
}

struct Taps {
  int first = 0;
  std::vector<int32_t> w;  // 22 fractional bits
};

Taps oracle_taps(ResampleFilter f, int in_size, int out_size, int i) {
  const double support_1 = f == ResampleFilter::bicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(in_size) / out_size, fs = std::max(scale, 1.0);
  const double support = support_1 * fs, center = (i + 0.5) * scale;
  const int lo = std::max(0, static_cast<int>(center - support + 0.5));
  const int hi = std::min(in_size, static_cast<int>(center + support + 0.5));
  std::vector<double> w;
  double sum = 0;
  for (int x = lo; x < hi; ++x) sum += w.emplace_back(oracle_filter(f, (x - center + 0.5) * (1.0 / fs)));
  Taps t{lo, {}};
  for (double v : w) {
    double n = sum != 0.0 ? v / sum : v;
    t.w.push_back(static_cast<int32_t>(n < 0 ? -0.5 + n * (1 << 22) : 0.5 + n * (1 << 22)));
  }
  return t;
}

uint8_t oracle_clip(int64_t acc) { return static_cast<uint8_t>(std::clamp<int64_t>(acc >> 22, 0, 255)); }

ImageU8 oracle_resize(const ImageU8& in, int w, int h, ResampleFilter f) {
  ImageU8 out{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (int y = 0; y < h; ++y) {
    Taps ty = oracle_taps(f, in.height, h, y);
    for (int x = 0; x < w; ++x) {
      Taps tx = oracle_taps(f, in.width, w, x);
      for (int c = 0; c < 3; ++c) {
        int64_t acc = 1 << 21;
        for (size_t j = 0; j < ty.w.size(); ++j) {
          int64_t row = 1 << 21;  // the horizontal pass's uint8 result for input row first + j
          for (size_t i = 0; i < tx.w.size(); ++i)
            row += in.rgb[((static_cast<size_t>(ty.first) + j) * in.width + tx.first + i) * 3 + c] * int64_t{tx.w[i]};
          acc += oracle_clip(row) * int64_t{ty.w[j]};
        }
        out.rgb[(static_cast<size_t>(y) * w + x) * 3 + c] = oracle_clip(acc);
      }
    }
  }
  return out;
}

// ---- Tests ----------------------------------------------------------------------------------
TEST(Resize, MatchesPilTable) {
  const Json& m = test::image_manifest();
  ASSERT_GE(m["resize"].size(), 20u);
  for (const Json& c : m["resize"]) {
    const std::string raw = read_file(test::data_path("images/" + c["src"].get<std::string>()));
    ImageU8 src{c["src_wh"][0].get<int>(), c["src_wh"][1].get<int>(), std::vector<uint8_t>(raw.begin(), raw.end())};
    const int w = c["wh"][0].get<int>(), h = c["wh"][1].get<int>(), filter = c["filter"].get<int>();
    ImageU8 out = resize(src, w, h, static_cast<ResampleFilter>(filter));
    EXPECT_EQ(out.width, w);
    EXPECT_EQ(out.height, h);
    EXPECT_EQ(sha256_hex(out.rgb.data(), out.rgb.size()), c["sha256"].get<std::string>())
        << src.width << "x" << src.height << " -> " << w << "x" << h << " filter " << filter;
  }
}

TEST(Resize, MatchesPlainOracle) {
  std::mt19937 rng(7);
  for (ResampleFilter f : {ResampleFilter::bicubic, ResampleFilter::bilinear}) {
    for (int trial = 0; trial < 60; ++trial) {
      const int w = 1 + rng() % 40, h = 1 + rng() % 40, ow = 1 + rng() % 60, oh = 1 + rng() % 60;
      ImageU8 in = random_image(w, h, rng);
      ASSERT_EQ(resize(in, ow, oh, f).rgb, oracle_resize(in, ow, oh, f).rgb)
          << w << "x" << h << " -> " << ow << "x" << oh << " filter " << static_cast<int>(f);
    }
  }
}

TEST(Resize, SameSizeIsACopy) {
  std::mt19937 rng(3);
  ImageU8 in = random_image(9, 4, rng);
  EXPECT_EQ(resize_bicubic(in, 9, 4).rgb, in.rgb);
}

TEST(Resize, RejectsBadSizes) {
  std::mt19937 rng(3);
  ImageU8 in = random_image(4, 4, rng);
  EXPECT_THROW(resize_bicubic(in, 0, 4), std::invalid_argument);
  EXPECT_THROW(resize_bicubic(ImageU8{}, 4, 4), std::invalid_argument);
  in.rgb.pop_back();
  EXPECT_THROW(resize_bicubic(in, 2, 2), std::invalid_argument);
}

}  // namespace
}  // namespace lvlm
