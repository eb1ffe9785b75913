// Image input, torch-free: decoding exactly as PIL 9.4's Image.open(f).convert("RGB"), Pillow's
// resampling filters bit for bit, and transformers 4.40's CLIPImageProcessor (plus the original
// LLaVA repo's expand2square). Every function here is deterministic and matches its Python
// reference to the last uint8 level / the last float32 bit.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lvlm {

// 8-bit RGB, HWC, row-major: rgb.size() == width * height * 3.
struct ImageU8 {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Decompression-bomb cap, as PIL's Image.MAX_IMAGE_PIXELS (89478485): above `warn_pixels` a
// warning, above `max_pixels` (PIL's 2x) an InputError before any pixel buffer is allocated.
struct DecodeLimits {
  uint64_t max_pixels = 2ull * 89478485;
  uint64_t warn_pixels = 89478485;
  // decode_image refuses larger files before reading them (and stops reading a pipe or device
  // there): the largest image under max_pixels, an uncompressed 24-bit BMP, needs ~512 MiB.
  uint64_t max_file_bytes = 1ull << 30;
};

// PIL's Image.open(path).convert("RGB"): JPEG through libjpeg-turbo, PNG/APNG through stb_image,
// GIF, BMP and binary PGM/PPM through small decoders that follow Pillow's. EXIF orientation is
// not applied, alpha is dropped (never composited), GIF/APNG give their first frame.
// InputError "<path>: <problem>" on any failure, including formats PIL opens that we do not.
ImageU8 decode_image(const std::string& path, const DecodeLimits& limits = {});
// Same from bytes in memory; `origin` names them in messages (a path or a description).
ImageU8 decode_image_bytes(std::string_view bytes, const std::string& origin, const DecodeLimits& limits = {});

// The container format by its magic bytes, as PIL's plugins accept them: "JPEG", "PNG", "GIF",
// "BMP", "PPM", or the name of a format we recognise but do not decode ("WEBP", "TIFF", ...);
// "" when unknown.
std::string sniff_image_format(std::string_view bytes);

// Pillow's resampling filters, numbered as PIL.Image.Resampling (NEAREST = 0 is not offered).
enum class ResampleFilter : int { lanczos = 1, bilinear = 2, bicubic = 3, box = 4, hamming = 5 };

// Pillow's Image.resize((out_width, out_height), filter): separable convolution, antialiased
// when downscaling, 8-bit fixed-point coefficients, horizontal pass first with a uint8
// intermediate (src/libImaging/Resample.c, Pillow 9.4 = current). Sizes must be >= 1.
ImageU8 resize(const ImageU8& in, int out_width, int out_height, ResampleFilter filter);
inline ImageU8 resize_bicubic(const ImageU8& in, int out_width, int out_height) {
  return resize(in, out_width, out_height, ResampleFilter::bicubic);
}

// CLIPImageProcessor's settings after transformers' get_size_dict and __init__ defaults.
struct ClipPreprocessConfig {
  bool do_resize = true;
  int shortest_edge = 224;                  // > 0: resize the shortest edge to this (aspect kept) ...
  int resize_height = 0, resize_width = 0;  // ... else resize to exactly this (size {"height","width"})
  ResampleFilter resample = ResampleFilter::bicubic;
  bool do_center_crop = true;
  int crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;  // applied in float64, then cast to float32 (as numpy does)
  bool do_normalize = true;
  std::array<double, 3> image_mean = {0.48145466, 0.4578275, 0.40821073};  // OPENAI_CLIP_MEAN
  std::array<double, 3> image_std = {0.26862954, 0.26130258, 0.27577711};  // OPENAI_CLIP_STD
};

// Parses preprocessor_config.json; omitted (or null) keys take CLIPImageProcessor's defaults.
// InputError naming the file and the key for malformed or unsupported values.
ClipPreprocessConfig load_preprocessor_config(const std::string& path);
ClipPreprocessConfig parse_preprocessor_config(std::string_view json_text, const std::string& origin);

struct PreprocessResult {
  std::vector<float> pixels;  // float32 CHW, [3, height, width]: transformers' pixel_values[0]
  int height = 0, width = 0;
  ImageU8 cropped;  // uint8 after resize + crop (before rescale), for hashing
  int resized_width = 0, resized_height = 0, crop_top = 0, crop_left = 0;
};

// An uncompressed 24-bit BMP of the image (what every browser shows from a data URI), and a data
// URI of any bytes.
std::string encode_bmp(const ImageU8& image);
std::string data_uri(const std::string& mime, const std::string& bytes);

// CLIPImageProcessor.preprocess on an RGB image. With pad_square, the original LLaVA repo's
// expand2square runs first: pad to a square with int(mean * 255) per channel, image centred.
// InputError "<origin>: ..." before allocating when padding or resizing would make an image
// (or the resize's intermediate) of more than DecodeLimits' max_pixels.
PreprocessResult preprocess_clip(const ImageU8& image, const ClipPreprocessConfig& config, bool pad_square = false,
                                 const std::string& origin = "image");

// expand2square on its own (llava/mm_utils.py): offset (max - min) // 2 along the short side.
ImageU8 expand_to_square(const ImageU8& image, const std::array<uint8_t, 3>& background);

// transformers' get_resize_output_image_size(default_to_square=False): the short side becomes
// `shortest_edge`, the long side int(shortest_edge * long / short). Returns {width, height}.
std::array<int, 2> shortest_edge_size(int width, int height, int shortest_edge);

}  // namespace lvlm
