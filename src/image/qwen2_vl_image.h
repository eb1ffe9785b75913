// Qwen2VLImageProcessor (transformers 4.57, models/qwen2_vl/image_processing_qwen2_vl.py) on one
// still image, torch-free: smart_resize, Pillow's resize, rescale and normalize, the frame repeated
// temporal_patch_size times, and the patches flattened in transformers' order. Qwen2.5-VL uses
// the same processor. Test oracle: tests/data/tiny-qwen2-vl/ and tiny-qwen2.5-vl/
// (scripts/reference/make_qwen_fixtures.py).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lvlm_probe/image.h"
#include "pixel_steps.h"

namespace lvlm {

struct Qwen2VLImageConfig {
  bool do_resize = true;
  ResampleFilter resample = ResampleFilter::bicubic;
  // rescale by 1/255 and normalize with OPENAI_CLIP_MEAN / OPENAI_CLIP_STD unless the file says otherwise
  image_steps::Normalization normalization = {
      true, 1.0 / 255.0, true, {0.48145466, 0.4578275, 0.40821073}, {0.26862954, 0.26130258, 0.27577711}};
  int64_t min_pixels = 56 * 56, max_pixels = 28 * 28 * 1280;
  int patch_size = 14, temporal_patch_size = 2, merge_size = 2;
};

// preprocessor_config.json. Only the top-level min_pixels / max_pixels set the pixel range: 4.57's
// __init__ replaces a given `size` dict by the defaults, so `size` is ignored as there.
// InputError naming the file and key for malformed values or a range beyond DecodeLimits.
Qwen2VLImageConfig load_qwen2_vl_image_config(const std::string& path);
Qwen2VLImageConfig parse_qwen2_vl_image_config(std::string_view json_text, const std::string& origin);

// smart_resize: {height, width}, both multiples of `factor`, area within [min_pixels, max_pixels]
// as far as rounding allows, aspect ratio kept; Python's round (half to even), floor, ceil.
// InputError "<origin>: ..." when the aspect ratio exceeds 200, as transformers' ValueError.
std::array<int, 2> smart_resize(int height, int width, int factor, int64_t min_pixels, int64_t max_pixels,
                                const std::string& origin = "image");

struct Qwen2VLPixels {
  // [grid_t * grid_h * grid_w, 3 * T * P * P] float32, row-major: rows in merge-group order
  // (t, h / merge, w / merge, merge, merge), columns (channel, frame, y, x) of one patch.
  std::vector<float> pixels;
  int64_t rows = 0, cols = 0;
  std::array<int64_t, 3> grid_thw{};  // image_grid_thw: t, h, w in patches
  int resized_width = 0, resized_height = 0;
  int64_t num_patches() const { return grid_thw[0] * grid_thw[1] * grid_thw[2]; }
  // Positions the image takes in the prompt: merge_size^2 patches become one token.
  int64_t num_image_tokens(int merge_size) const { return num_patches() / (merge_size * merge_size); }
};

Qwen2VLPixels preprocess_qwen2_vl(const ImageU8& image, const Qwen2VLImageConfig& config,
                                  const std::string& origin = "image");

}  // namespace lvlm
