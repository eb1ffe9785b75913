// Steps CLIPImageProcessor and Qwen2VLImageProcessor share: transformers' BaseImageProcessor
// rescale + normalize, and the preprocessor_config.json keys both read the same way.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"

namespace lvlm::image_steps {

struct Normalization {
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;  // applied in float64, then cast to float32 (as numpy does)
  bool do_normalize = true;
  std::array<double, 3> mean{}, std{};  // used as float32: (x - mean) / std in float32
};

// HWC uint8 -> CHW float32 [3, height, width].
std::vector<float> rescale_normalize(const ImageU8& image, const Normalization& n);

// `key`: 3 numbers (or one for all channels); absent or null = fallback. InputError naming the key.
std::array<double, 3> read_triple(const Json& j, const char* key, const std::array<double, 3>& fallback,
                                  const std::string& origin);
// do_rescale, rescale_factor, do_normalize, image_mean, image_std; absent or null keys keep
// `defaults`. InputError naming the key, also for a standard deviation of 0.
Normalization read_normalization(const Json& j, const Normalization& defaults, const std::string& origin);
// `resample`: PIL's filter number (absent = 3, bicubic). InputError for NEAREST and unknown numbers.
ResampleFilter read_resample(const Json& j, const std::string& origin);

// transformers reads an (H, W, 3) array with H = 1 or 3 as channels-first: warns that its pixel
// values for such an image are not the image's, while ours follow the image.
void warn_if_read_as_channels_first(int height);

}  // namespace lvlm::image_steps
