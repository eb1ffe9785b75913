// Qwen2VLImageProcessor._preprocess for one still image (transformers 4.57). Float rules as
// CLIPImageProcessor (pixel_steps.h); the flattening is numpy's reshape
// (grid_t, T, C, gh/m, m, P, gw/m, m, P) -> transpose(0, 3, 6, 4, 7, 2, 1, 5, 8) -> 2-D.
#include "qwen2_vl_image.h"

#include <cmath>

#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"

namespace lvlm {
namespace {

int64_t pixel_count(const Json& j, const char* key, int64_t fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  const int64_t cap = static_cast<int64_t>(DecodeLimits{}.max_pixels);
  if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > cap)
    throw InputError(origin, std::string("key '") + key + "': expected a pixel count from 1 to " + std::to_string(cap));
  return it->get<int64_t>();
}

int small_positive(const Json& j, const char* key, int fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 1024)
    throw InputError(origin, std::string("key '") + key + "': expected an integer from 1 to 1024");
  return static_cast<int>(it->get<int64_t>());
}

}  // namespace

Qwen2VLImageConfig parse_qwen2_vl_image_config(std::string_view text, const std::string& origin) {
  const Json j = parse_json(text, origin);
  if (!j.is_object()) throw InputError(origin, "expected a JSON object (preprocessor_config.json)");
  const std::string type = json_get<std::string>(j, "image_processor_type", "Qwen2VLImageProcessor", origin);
  if (type != "Qwen2VLImageProcessor" && type != "Qwen2VLImageProcessorFast")
    throw InputError(origin, "key 'image_processor_type': '" + type + "' is not supported (expected Qwen2VLImageProcessor)");
  Qwen2VLImageConfig c;
  c.do_resize = json_get<bool>(j, "do_resize", c.do_resize, origin);
  c.resample = image_steps::read_resample(j, origin);
  c.normalization = image_steps::read_normalization(j, c.normalization, origin);
  c.min_pixels = pixel_count(j, "min_pixels", c.min_pixels, origin);
  c.max_pixels = pixel_count(j, "max_pixels", c.max_pixels, origin);
  c.patch_size = small_positive(j, "patch_size", c.patch_size, origin);
  c.temporal_patch_size = small_positive(j, "temporal_patch_size", c.temporal_patch_size, origin);
  c.merge_size = small_positive(j, "merge_size", c.merge_size, origin);
  return c;
}

Qwen2VLImageConfig load_qwen2_vl_image_config(const std::string& path) {
  return parse_qwen2_vl_image_config(read_file(path, JsonLimits{}.max_bytes), path);
}

std::array<int, 2> smart_resize(int height, int width, int factor, int64_t min_pixels, int64_t max_pixels,
                                const std::string& origin) {
  if (height < 1 || width < 1 || factor < 1) throw InputError(origin, "empty image");
  const double ratio = static_cast<double>(std::max(height, width)) / std::min(height, width);
  if (ratio > 200)
    throw InputError(origin, "aspect ratio " + std::to_string(ratio) + " is above 200, which Qwen2-VL's processor refuses");
  // std::nearbyint rounds half to even in the default rounding mode, as Python's round.
  double h_bar = std::nearbyint(static_cast<double>(height) / factor) * factor;
  double w_bar = std::nearbyint(static_cast<double>(width) / factor) * factor;
  if (h_bar * w_bar > static_cast<double>(max_pixels)) {
    const double beta = std::sqrt(static_cast<double>(height) * width / static_cast<double>(max_pixels));
    h_bar = std::max<double>(factor, std::floor(height / beta / factor) * factor);
    w_bar = std::max<double>(factor, std::floor(width / beta / factor) * factor);
  } else if (h_bar * w_bar < static_cast<double>(min_pixels)) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (static_cast<double>(height) * width));
    h_bar = std::ceil(height * beta / factor) * factor;
    w_bar = std::ceil(width * beta / factor) * factor;
  }
  return {static_cast<int>(h_bar), static_cast<int>(w_bar)};
}

Qwen2VLPixels preprocess_qwen2_vl(const ImageU8& image, const Qwen2VLImageConfig& c, const std::string& origin) {
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw std::invalid_argument("preprocess_qwen2_vl: empty or inconsistent image");
  const int factor = c.patch_size * c.merge_size;
  image_steps::warn_if_read_as_channels_first(image.height);
  ImageU8 resized = image;
  if (c.do_resize) {
    const auto [h, w] = smart_resize(image.height, image.width, factor, c.min_pixels, c.max_pixels, origin);
    resized = resize(image, w, h, c.resample);
  } else if (image.height % factor || image.width % factor) {
    throw InputError(origin, "with do_resize false the image's sides must be multiples of " + std::to_string(factor));
  }
  const std::vector<float> chw = image_steps::rescale_normalize(resized, c.normalization);
  Qwen2VLPixels out;
  out.resized_width = resized.width, out.resized_height = resized.height;
  const int P = c.patch_size, T = c.temporal_patch_size, m = c.merge_size;
  const int64_t gh = resized.height / P, gw = resized.width / P;
  out.grid_thw = {1, gh, gw};  // one still image: T copies of it make one temporal patch
  out.rows = gh * gw;
  out.cols = int64_t{3} * T * P * P;
  out.pixels.resize(static_cast<size_t>(out.rows * out.cols));
  const size_t plane = static_cast<size_t>(resized.width) * resized.height;
  float* dst = out.pixels.data();
  for (int64_t bh = 0; bh < gh / m; ++bh)
    for (int64_t bw = 0; bw < gw / m; ++bw)
      for (int mh = 0; mh < m; ++mh)
        for (int mw = 0; mw < m; ++mw) {
          const int64_t y0 = (bh * m + mh) * P, x0 = (bw * m + mw) * P;
          for (int ch = 0; ch < 3; ++ch)
            for (int t = 0; t < T; ++t)  // the frame repeated
              for (int y = 0; y < P; ++y) {
                const float* row = chw.data() + ch * plane + static_cast<size_t>(y0 + y) * resized.width + x0;
                dst = std::copy(row, row + P, dst);
              }
        }
  return out;
}

}  // namespace lvlm
