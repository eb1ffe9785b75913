// Format dispatch for decode_image: PIL picks a plugin by the file's first bytes (each plugin's
// _accept), never by its extension, and so do we.
#include <spdlog/spdlog.h>

#include <cstring>

#include "decoders.h"

namespace lvlm {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

const char* const kSupported =
    "lvlm-probe reads JPEG, PNG (first APNG frame), GIF (first frame), BMP and binary PGM/PPM";

}  // namespace

std::string sniff_image_format(std::string_view b) {
  using namespace std::string_view_literals;
  if (starts_with(b, "\xFF\xD8\xFF"sv)) return "JPEG";
  if (starts_with(b, "\x89PNG\r\n\x1A\n"sv)) return "PNG";
  if (starts_with(b, "GIF87a"sv) || starts_with(b, "GIF89a"sv)) return "GIF";
  if (starts_with(b, "BM"sv)) return "BMP";
  if (b.size() >= 2 && b[0] == 'P' && std::strchr("0123456y", b[1]) && b[1] != '\0') return "PPM";
  // Formats PIL 9.4 opens and we do not: recognised only to say so clearly.
  if (starts_with(b, "RIFF"sv) && b.size() >= 12 && b.substr(8, 4) == "WEBP"sv) return "WEBP";
  if (starts_with(b, "II*\0"sv) || starts_with(b, "MM\0*"sv) || starts_with(b, "II+\0"sv)) return "TIFF";
  if (starts_with(b, "\0\0\1\0"sv)) return "ICO";
  if (starts_with(b, "\0\0\2\0"sv)) return "CUR";
  if (starts_with(b, "8BPS"sv)) return "PSD";
  if (starts_with(b, "\0\0\0\x0CjP  \r\n\x87\n"sv) || starts_with(b, "\xFF\x4F\xFF\x51"sv)) return "JPEG2000";
  if (starts_with(b, "icns"sv)) return "ICNS";
  if (starts_with(b, "DDS "sv)) return "DDS";
  if (starts_with(b, "\x01\xDA"sv)) return "SGI";
  if (starts_with(b, "\x59\xA6\x6A\x95"sv)) return "SUN";
  return "";
}

namespace image_detail {

void check_image_size(uint64_t width, uint64_t height, const std::string& origin, const DecodeLimits& limits) {
  if (width == 0 || height == 0)
    throw InputError(origin, "image has no pixels (" + std::to_string(width) + "x" + std::to_string(height) + ")");
  // Both factors fit in 32 bits in every format we read, so the product cannot overflow.
  uint64_t pixels = width * height;
  if (pixels > limits.max_pixels || width > (1u << 30) || height > (1u << 30))
    throw InputError(origin, "image size " + std::to_string(width) + "x" + std::to_string(height) + " (" +
                                 std::to_string(pixels) + " pixels) exceeds the limit of " +
                                 std::to_string(limits.max_pixels) + " pixels (decompression bomb?)");
  if (pixels > limits.warn_pixels)
    spdlog::warn("{}: image size {}x{} exceeds {} pixels, could be a decompression bomb", origin, width, height,
                 limits.warn_pixels);
}

ImageU8 new_rgb_image(uint64_t width, uint64_t height, const std::string& origin, const DecodeLimits& limits) {
  check_image_size(width, height, origin, limits);
  ImageU8 img;
  img.width = static_cast<int>(width);
  img.height = static_cast<int>(height);
  img.rgb.assign(static_cast<size_t>(width * height * 3), 0);
  return img;
}

}  // namespace image_detail

ImageU8 decode_image_bytes(std::string_view bytes, const std::string& origin, const DecodeLimits& limits) {
  using namespace image_detail;
  if (bytes.empty()) throw InputError(origin, "empty file, expected an image");
  std::string format = sniff_image_format(bytes);
  if (format == "JPEG") return decode_jpeg(bytes, origin, limits);
  if (format == "PNG") return decode_png(bytes, origin, limits);
  if (format == "GIF") return decode_gif(bytes, origin, limits);
  if (format == "BMP") return decode_bmp(bytes, origin, limits);
  if (format == "PPM") return decode_pnm(bytes, origin, limits);
  if (!format.empty())
    throw InputError(origin, "unsupported image format " + format + " (" + kSupported +
                                 "); convert it to PNG, e.g. with PIL: Image.open(f).save('x.png')");
  throw InputError(origin, std::string("cannot identify image file: not a known image format (") + kSupported + ")");
}

ImageU8 decode_image(const std::string& path, const DecodeLimits& limits) {
  return decode_image_bytes(read_file(path, limits.max_file_bytes), path, limits);
}

}  // namespace lvlm
