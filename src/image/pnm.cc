// Binary PBM/PGM/PPM (P4, P5, P6) as PIL 9.4's PpmImagePlugin reads them: its tokeniser
// (a '#' comment may even split a token), maxval 255 raw, 16-bit grey (maxval 65535) as mode
// "I" clipped to 0..255 by convert("RGB"), any other maxval rescaled by PpmDecoder with
// Python's round(value / maxval * out_max). The plain (ASCII) variants P1-P3 are not read.
#include <cmath>
#include <cstring>

#include "decoders.h"

namespace lvlm::image_detail {
namespace {

bool is_space(uint8_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }

struct Tokens {
  const uint8_t* p;
  size_t n, pos = 0;
  const std::string& origin;

  // PpmImageFile._read_token: skip blanks, drop comments, stop after one trailing blank.
  uint64_t number() {
    std::string token;
    while (token.size() <= 10) {
      if (pos >= n) break;
      uint8_t c = p[pos++];
      if (is_space(c)) {
        if (token.empty()) continue;
        break;
      }
      if (c == '#') {
        while (pos < n && p[pos] != '\r' && p[pos] != '\n') ++pos;
        if (pos < n) ++pos;
        continue;
      }
      token.push_back(static_cast<char>(c));
    }
    if (token.empty()) throw InputError(origin, "reached EOF while reading the PNM header");
    if (token.size() > 10) throw InputError(origin, "token too long in the PNM header");
    if (token.find_first_not_of("0123456789") != std::string::npos)
      throw InputError(origin, "invalid number '" + printable(token) + "' in the PNM header");
    return std::stoull(token);
  }
};

}  // namespace

ImageU8 decode_pnm(std::string_view data, const std::string& origin, const DecodeLimits& limits) {
  const uint8_t* p = bytes_of(data);
  size_t magic_end = 0;
  while (magic_end < std::min<size_t>(6, data.size()) && !is_space(p[magic_end])) ++magic_end;
  std::string magic(data.substr(0, magic_end));
  if (magic == "P1" || magic == "P2" || magic == "P3")
    throw InputError(origin, "unsupported image format: plain (ASCII) PNM " + magic + "; convert it to PNG");
  if (magic != "P4" && magic != "P5" && magic != "P6")
    throw InputError(origin, "unsupported image format: PNM variant '" + printable(magic) + "'");
  Tokens t{p, data.size(), std::min(magic_end + 1, data.size()), origin};
  uint64_t width = t.number(), height = t.number(), maxval = 1;
  if (magic != "P4") {
    maxval = t.number();
    if (maxval == 0 || maxval >= 65536)
      throw InputError(origin, "PNM maxval must be greater than 0 and less than 65536");
  }
  check_image_size(width, height, origin, limits);
  const int bands = magic == "P6" ? 3 : 1, in_bytes = maxval < 256 ? 1 : 2;
  const uint64_t row = magic == "P4" ? (width + 7) / 8 : width * bands * in_bytes;
  if (data.size() - t.pos < row * height) throw InputError(origin, "image file is truncated (PNM pixel data)");
  ImageU8 img = new_rgb_image(width, height, origin, limits);
  const uint8_t* in = p + t.pos;
  const size_t count = static_cast<size_t>(width) * height;
  // Grey above maxval 255 becomes mode "I" (out_max 65535), which convert("RGB") clips.
  const bool mode_i = magic == "P5" && maxval > 255;
  const double out_max = mode_i ? 65535.0 : 255.0;
  for (size_t i = 0; i < count; ++i) {
    uint8_t* o = &img.rgb[3 * i];
    if (magic == "P4") {  // rawmode "1;I": a set bit is black
      size_t x = i % width, y = i / width;
      o[0] = o[1] = o[2] = (in[y * row + x / 8] >> (7 - x % 8)) & 1 ? 0 : 255;
      continue;
    }
    for (int b = 0; b < bands; ++b) {
      const uint8_t* s = in + (i * bands + b) * in_bytes;
      double v = in_bytes == 1 ? s[0] : (s[0] << 8 | s[1]);
      if (maxval != 255 && maxval != 65535) v = std::min(out_max, std::nearbyint(v / maxval * out_max));
      if (magic == "P6" && maxval == 65535) v = std::min(out_max, std::nearbyint(v / 65535.0 * 255.0));
      o[b] = static_cast<uint8_t>(std::min(v, 255.0));
    }
    if (bands == 1) o[1] = o[2] = o[0];
  }
  return img;
}

}  // namespace lvlm::image_detail
