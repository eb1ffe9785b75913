// Images out, for pages: an uncompressed BMP (BITMAPINFOHEADER, 24 bits, bottom-up rows padded to
// 4 bytes; the format bmp.cc reads) and base64 data URIs (RFC 4648 alphabet, '=' padding).
#include <cstdint>
#include <string>

#include "lvlm_probe/image.h"

namespace lvlm {
namespace {

void put_le(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

std::string encode_bmp(const ImageU8& image) {
  const uint32_t row = (static_cast<uint32_t>(image.width) * 3 + 3) & ~3u, size = row * image.height;
  std::string out = "BM";
  put_le(out, 54 + size, 4);
  put_le(out, 0, 4);
  put_le(out, 54, 4);  // pixel data offset
  put_le(out, 40, 4);  // BITMAPINFOHEADER
  put_le(out, static_cast<uint32_t>(image.width), 4);
  put_le(out, static_cast<uint32_t>(image.height), 4);
  put_le(out, 1, 2);   // planes
  put_le(out, 24, 2);  // bits per pixel
  put_le(out, 0, 4);   // BI_RGB
  put_le(out, size, 4);
  put_le(out, 2835, 4);  // 72 dpi
  put_le(out, 2835, 4);
  put_le(out, 0, 4);
  put_le(out, 0, 4);
  for (int y = image.height - 1; y >= 0; --y) {
    const uint8_t* p = &image.rgb[static_cast<size_t>(y) * image.width * 3];
    for (int x = 0; x < image.width; ++x, p += 3)
      out.push_back(static_cast<char>(p[2])), out.push_back(static_cast<char>(p[1])), out.push_back(static_cast<char>(p[0]));
    out.append(row - static_cast<uint32_t>(image.width) * 3, '\0');
  }
  return out;
}

std::string data_uri(const std::string& mime, const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "data:" + mime + ";base64,";
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | (two ? uint32_t(uint8_t(bytes[i + 1])) << 8 : 0);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(two ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace lvlm
