// decode_image_bytes (every format: JPEG, PNG/APNG, GIF, BMP, PNM, and the sniffing of the
// rest) on hostile bytes, then CLIP preprocessing of small results. The pixel cap is lowered so
// that a claimed 16k x 16k image is refused cheaply, as the real cap refuses bombs.
#include "fuzz_util.h"
#include "lvlm_probe/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lvlm::DecodeLimits limits;
  limits.max_pixels = 1u << 22;
  limits.warn_pixels = 1u << 22;
  lvlm::fuzz::expect_only_lvlm_errors([&] {
    lvlm::ImageU8 img = lvlm::decode_image_bytes(lvlm::fuzz::as_view(data, size), "fuzz.img", limits);
    if (img.width <= 0 || img.height <= 0 || img.rgb.size() != size_t(img.width) * size_t(img.height) * 3)
      std::abort();
    if (uint64_t(img.width) * uint64_t(img.height) <= 4096) {
      lvlm::ClipPreprocessConfig c;
      c.shortest_edge = c.crop_height = c.crop_width = 16;
      (void)lvlm::preprocess_clip(img, c, /*pad_square=*/(size & 1) != 0);
    }
  });
  return 0;
}
