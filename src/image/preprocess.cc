// CLIPImageProcessor.preprocess (transformers 4.40.2, models/clip/image_processing_clip.py and
// image_transforms.py) on one RGB image, and the original LLaVA repo's expand2square.
// Float rules that decide the last bit: rescale multiplies the uint8 value by rescale_factor in
// float64 (numpy: uint8 array * Python float) and casts to float32; normalize then computes
// (x - float32(mean)) / float32(std) in float32.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "lvlm_probe/common.h"
#include "lvlm_probe/image.h"
#include "pixel_steps.h"

namespace lvlm {
namespace {

int floor_div2(int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }  // Python's v // 2

// image_transforms.center_crop along one axis of length `size` for a crop of `crop`: the
// window starts at (size - crop) // 2; if the window leaves the image on any side, transformers
// zero-pads the image to max(size, crop) first and clips the window to the padded image, which
// can make the result one pixel shorter than `crop`. Returns {source offset of output 0, length}.
std::array<int, 2> crop_axis(int size, int crop) {
  int top = floor_div2(size - crop), bottom = top + crop;
  int padded = std::max(crop, size), pad = (padded - size) / 2;
  int start = std::max(0, top + pad), end = std::min(padded, bottom + pad);
  return {start - pad, end - start};
}

ImageU8 crop_or_pad(const ImageU8& in, int top, int height, int left, int width) {
  ImageU8 out;
  out.width = width;
  out.height = height;
  out.rgb.assign(static_cast<size_t>(width) * height * 3, 0);
  for (int y = 0; y < height; ++y) {
    int sy = y + top;
    if (sy < 0 || sy >= in.height) continue;
    for (int x = 0; x < width; ++x) {
      int sx = x + left;
      if (sx < 0 || sx >= in.width) continue;
      std::copy_n(&in.rgb[(static_cast<size_t>(sy) * in.width + sx) * 3], 3,
                  &out.rgb[(static_cast<size_t>(y) * width + x) * 3]);
    }
  }
  return out;
}

std::vector<float> to_pixel_values(const ImageU8& img, const ClipPreprocessConfig& cfg) {
  return image_steps::rescale_normalize(img, {cfg.do_rescale, cfg.rescale_factor, cfg.do_normalize, cfg.image_mean, cfg.image_std});
}

// The buffers preprocessing will allocate, checked before any of them is: an image within the
// decoder's pixel cap can still be padded or resized past it (a 1x6,000,000 strip resized to a
// shortest edge of 32 is 32x192,000,000). Resizing also holds a width_out x height_in uint8
// intermediate (the horizontal pass runs first). Doubles: exact for these integer sizes.
void check_sizes(int width, int height, const ClipPreprocessConfig& cfg, bool pad_square, const std::string& origin) {
  const double cap = static_cast<double>(DecodeLimits{}.max_pixels);
  auto refuse_above_cap = [&](const char* step, double w, double h, double area) {
    if (area <= cap) return;
    char text[160];
    std::snprintf(text, sizeof text, "%s would make a %.0fx%.0f image (%.0f pixels), above the limit of %.0f pixels",
                  step, w, h, area, cap);
    throw InputError(origin, text);
  };
  double w = width, h = height;
  if (pad_square) {
    w = h = std::max(w, h);
    refuse_above_cap("--pad-square", w, h, w * h);
  }
  if (!cfg.do_resize) return;
  double out_w = cfg.resize_width, out_h = cfg.resize_height;
  if (cfg.shortest_edge > 0) {  // as shortest_edge_size: the long side is int(edge * long / short)
    const double short_side = std::min(w, h), long_side = std::floor(cfg.shortest_edge * std::max(w, h) / short_side);
    out_w = w <= h ? cfg.shortest_edge : long_side;
    out_h = w <= h ? long_side : cfg.shortest_edge;
  }
  refuse_above_cap("resizing to the size in the preprocessor config", out_w, out_h,
                   out_w * std::max(out_h, out_w == w ? 0.0 : h));
}

}  // namespace

namespace image_steps {

std::vector<float> rescale_normalize(const ImageU8& img, const Normalization& n) {
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  std::vector<float> out(3 * plane);
  for (int c = 0; c < 3; ++c) {
    const float mean = static_cast<float>(n.mean[c]), std = static_cast<float>(n.std[c]);
    float* dst = out.data() + c * plane;
    for (size_t i = 0; i < plane; ++i) {
      const uint8_t v = img.rgb[3 * i + c];
      float x = n.do_rescale ? static_cast<float>(static_cast<double>(v) * n.rescale_factor) : static_cast<float>(v);
      if (n.do_normalize) x = (x - mean) / std;
      dst[i] = x;
    }
  }
  return out;
}

void warn_if_read_as_channels_first(int height) {
  // transformers' infer_channel_dimension_format takes an (H, W, 3) array with H = 1 or 3 for
  // channels-first, so its pixel_values for such an image are not the image's.
  if (height == 1 || height == 3)
    spdlog::warn(
        "image is {} pixel(s) tall: transformers would misread it as channels-first; these pixel values "
        "follow the image and differ from transformers'",
        height);
}

}  // namespace image_steps

std::array<int, 2> shortest_edge_size(int width, int height, int shortest_edge) {
  if (width <= 0 || height <= 0 || shortest_edge <= 0)
    throw std::invalid_argument("shortest_edge_size: sizes must be positive");
  const bool portrait = width <= height;
  const int64_t short_side = portrait ? width : height, long_side = portrait ? height : width;
  // Python: int(requested_new_short * long / short): exact integer product, one rounded division.
  const int new_long =
      static_cast<int>(static_cast<double>(shortest_edge * long_side) / static_cast<double>(short_side));
  return portrait ? std::array<int, 2>{shortest_edge, new_long} : std::array<int, 2>{new_long, shortest_edge};
}

ImageU8 expand_to_square(const ImageU8& image, const std::array<uint8_t, 3>& background) {
  if (image.width == image.height) return image;
  const int side = std::max(image.width, image.height);
  ImageU8 out;
  out.width = out.height = side;
  out.rgb.resize(static_cast<size_t>(side) * side * 3);
  for (size_t i = 0; i < out.rgb.size(); i += 3) std::copy(background.begin(), background.end(), &out.rgb[i]);
  const int left = image.width < side ? (side - image.width) / 2 : 0;
  const int top = image.height < side ? (side - image.height) / 2 : 0;
  for (int y = 0; y < image.height; ++y)
    std::copy_n(&image.rgb[static_cast<size_t>(y) * image.width * 3], static_cast<size_t>(image.width) * 3,
                &out.rgb[(static_cast<size_t>(y + top) * side + left) * 3]);
  return out;
}

PreprocessResult preprocess_clip(const ImageU8& image, const ClipPreprocessConfig& cfg, bool pad_square,
                                 const std::string& origin) {
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw std::invalid_argument("preprocess_clip: empty or inconsistent image");
  check_sizes(image.width, image.height, cfg, pad_square, origin);
  ImageU8 img;
  if (pad_square) {
    std::array<uint8_t, 3> bg{};  // tuple(int(x * 255) for x in image_mean); PIL clips the ink
    for (int c = 0; c < 3; ++c)
      bg[c] = static_cast<uint8_t>(std::clamp(static_cast<int>(cfg.image_mean[c] * 255), 0, 255));
    img = expand_to_square(image, bg);
  } else {
    img = image;
  }
  image_steps::warn_if_read_as_channels_first(img.height);
  PreprocessResult r;
  if (cfg.do_resize) {
    auto [w, h] = cfg.shortest_edge > 0 ? shortest_edge_size(img.width, img.height, cfg.shortest_edge)
                                        : std::array<int, 2>{cfg.resize_width, cfg.resize_height};
    img = resize(img, w, h, cfg.resample);
  }
  r.resized_width = img.width;
  r.resized_height = img.height;
  if (cfg.do_center_crop) {
    auto [top, height] = crop_axis(img.height, cfg.crop_height);
    auto [left, width] = crop_axis(img.width, cfg.crop_width);
    r.crop_top = floor_div2(img.height - cfg.crop_height);
    r.crop_left = floor_div2(img.width - cfg.crop_width);
    img = crop_or_pad(img, top, height, left, width);
  }
  r.pixels = to_pixel_values(img, cfg);
  r.height = img.height;
  r.width = img.width;
  r.cropped = std::move(img);
  return r;
}

}  // namespace lvlm
