// Private to the image module: one decoder per container format, each returning PIL's
// convert("RGB") pixels, plus the helpers they share (bomb check, PIL's palette).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "lvlm_probe/common.h"
#include "lvlm_probe/image.h"

namespace lvlm::image_detail {

// PIL's Image._decompression_bomb_check, then the RGB buffer. InputError for an image with no
// pixels (PIL opens one, but nothing downstream can use it) or above limits.max_pixels.
ImageU8 new_rgb_image(uint64_t width, uint64_t height, const std::string& origin, const DecodeLimits& limits);
void check_image_size(uint64_t width, uint64_t height, const std::string& origin, const DecodeLimits& limits);

// PIL's palette: 256 RGB entries that start as the grey ramp (ImagingPaletteNew), so an index
// past the colours a file defines shows as grey (i, i, i).
struct Palette {
  std::array<uint8_t, 256 * 3> rgb;
  Palette() {
    for (int i = 0; i < 256; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = static_cast<uint8_t>(i);
  }
  void set(int index, uint8_t r, uint8_t g, uint8_t b) {
    rgb[3 * index] = r;
    rgb[3 * index + 1] = g;
    rgb[3 * index + 2] = b;
  }
  const uint8_t* operator[](int index) const { return &rgb[3 * index]; }
};

// Little- and big-endian reads from a byte string; callers check the bounds.
inline uint32_t le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
inline uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
inline uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
inline const uint8_t* bytes_of(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Bytes from a file, safe to put in a one-line message: non-printable ones become \xNN.
inline std::string printable(std::string_view s) {
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\')
      out.push_back(static_cast<char>(c));
    else
      out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
  }
  return out;
}

ImageU8 decode_jpeg(std::string_view data, const std::string& origin, const DecodeLimits& limits);
ImageU8 decode_png(std::string_view data, const std::string& origin, const DecodeLimits& limits);
ImageU8 decode_gif(std::string_view data, const std::string& origin, const DecodeLimits& limits);
ImageU8 decode_bmp(std::string_view data, const std::string& origin, const DecodeLimits& limits);
ImageU8 decode_pnm(std::string_view data, const std::string& origin, const DecodeLimits& limits);

}  // namespace lvlm::image_detail
