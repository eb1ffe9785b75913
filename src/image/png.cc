// PNG (and the first frame of APNG, which is the IDAT image) as PIL 9.4's PngImagePlugin reads
// it, with stb_image inflating and unfiltering the pixels.
//
// png_chunks.cc walks the chunks first, as PIL does; stb_image then sees a minimal PNG (IHDR +
// the IDAT data + IEND). PIL's rules that stb does not follow are applied here:
//  - 16-bit grey opens as mode "I" and converts to RGB clipped to 0..255 (Convert.c i2rgb), not
//    reduced to its high byte; 16-bit RGB, RGBA and grey+alpha keep the high byte (rawmodes
//    "RGB;16B", "RGBA;16B", "LA;16B"), which is what stb's 16 -> 8 conversion does;
//  - palette images: the IHDR handed to stb says grey, so stb returns the raw indices, and we
//    look them up in PIL's palette (grey ramp past the PLTE entries); tRNS is never applied;
//  - alpha is dropped, never composited (Convert.c rgba2rgb, la2rgb);
//  - zlib's Adler-32 check, which PIL gets from zlib and stb skips.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "png_chunks.h"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS (1 << 30)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "stb_image.h"
#pragma GCC diagnostic pop

namespace lvlm::image_detail {
namespace {

// The PNG stb decodes: our IHDR (palette declared as grey, compression 0, interlace 0/1),
// the IDAT data as one chunk, IEND. stb_image does not check CRCs, so they are left zero.
std::string minimal_png(const PngInfo& info) {
  std::string out("\x89PNG\r\n\x1A\n", 8);
  auto put32 = [&out](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
  };
  put32(13);
  out += "IHDR";
  put32(info.width);
  put32(info.height);
  out.push_back(static_cast<char>(info.depth));
  out.push_back(static_cast<char>(info.colour == 3 ? 0 : info.colour));
  out.push_back(0);  // compression
  out.push_back(0);  // filter
  out.push_back(static_cast<char>(info.interlace));
  put32(0);
  if (!info.idat.empty()) {  // an empty IDAT would make stb_image memcpy from a null buffer
    put32(static_cast<uint32_t>(info.idat.size()));
    out += "IDAT" + info.idat;
    put32(0);
  }
  put32(0);
  out += "IEND";
  put32(0);
  return out;
}

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

// Bytes zlib yields for the image: per row of each (Adam7) pass, a filter byte and the packed row.
uint64_t raw_size(const PngInfo& info) {
  static const int kChannels[7] = {1, 0, 3, 1, 2, 0, 4};
  const uint64_t bits = static_cast<uint64_t>(info.depth) * kChannels[info.colour];
  auto pass = [bits](uint64_t w, uint64_t h) { return w && h ? h * (1 + (w * bits + 7) / 8) : 0; };
  if (!info.interlace) return pass(info.width, info.height);
  static const int kX0[7] = {0, 4, 0, 2, 0, 1, 0}, kY0[7] = {0, 0, 4, 0, 2, 0, 1};
  static const int kDx[7] = {8, 8, 4, 4, 2, 2, 1}, kDy[7] = {8, 8, 8, 4, 4, 2, 2};
  uint64_t total = 0;
  for (int i = 0; i < 7; ++i)
    total += pass((info.width + kDx[i] - 1 - kX0[i]) / kDx[i], (info.height + kDy[i] - 1 - kY0[i]) / kDy[i]);
  return total;
}

uint32_t adler32(const uint8_t* p, size_t n) {
  uint32_t a = 1, b = 0;
  while (n > 0) {
    size_t k = std::min<size_t>(n, 5552);  // zlib's NMAX: the sums cannot overflow before the modulo
    n -= k;
    while (k--) a += *p++, b += a;
    a %= 65521, b %= 65521;
  }
  return b << 16 | a;
}

// PIL's zlib verifies the stream's Adler-32 when its 4 bytes arrive in the same read as the end
// of the deflate data (ZipDecode then reports "broken data stream"); stb_image never checks it.
// So inflate once more with stb's own zlib, find where the deflate data ends, and compare.
void check_adler32(const PngInfo& info, const std::string& origin) {
  const uint64_t expected = raw_size(info);
  if (expected == 0 || expected > (1u << 31) - 1) return;
  std::string in = info.idat;
  in.append(8, '\0');  // so stb's bit reader never reads past the end
  stbi__zbuf z{};
  z.zbuffer = reinterpret_cast<stbi_uc*>(in.data());
  z.zbuffer_end = z.zbuffer + in.size();
  // A fixed-size output: a stream that yields more than the image fails here, and PIL, which
  // stops reading at the last row, never reaches the check for it either.
  std::unique_ptr<char, StbFree> result(static_cast<char*>(STBI_MALLOC(expected)));
  if (!result || !stbi__do_zlib(&z, result.get(), static_cast<int>(expected), /*exp=*/0, /*parse_header=*/1)) return;
  const size_t produced = static_cast<size_t>(z.zout - z.zout_start);
  const size_t end = static_cast<size_t>(z.zbuffer - reinterpret_cast<stbi_uc*>(in.data())) - z.num_bits / 8;
  // Only a stream that yields exactly the image reaches zlib's check inside PIL's last call.
  if (produced != expected || end == 0 || end + 4 > info.idat.size()) return;
  auto read_of = [&info](size_t i) { return std::upper_bound(info.read_ends.begin(), info.read_ends.end(), i); };
  if (read_of(end - 1) != read_of(end + 3)) return;
  if (adler32(reinterpret_cast<const uint8_t*>(result.get()), produced) != be32(bytes_of(info.idat) + end))
    throw InputError(origin, "broken PNG data (zlib: incorrect data check), as PIL reports it");
}

}  // namespace

ImageU8 decode_png(std::string_view data, const std::string& origin, const DecodeLimits& limits) {
  PngInfo info = scan_png_chunks(data, origin);
  ImageU8 img = new_rgb_image(info.width, info.height, origin, limits);
  if (info.idat.size() > (1u << 31) - 1024) throw InputError(origin, "PNG image data above 2 GiB is not supported");
  check_adler32(info, origin);
  std::string png = minimal_png(info);
  int w = 0, h = 0, channels = 0;
  bool grey16 = info.colour == 0 && info.depth == 16;
  std::unique_ptr<void, StbFree> pixels(grey16
                                            ? static_cast<void*>(stbi_load_16_from_memory(
                                                  bytes_of(png), static_cast<int>(png.size()), &w, &h, &channels, 0))
                                            : static_cast<void*>(stbi_load_from_memory(
                                                  bytes_of(png), static_cast<int>(png.size()), &w, &h, &channels, 0)));
  if (!pixels && info.idat_cut) throw InputError(origin, "image file is truncated (in PNG image data)");
  if (!pixels) throw InputError(origin, std::string("broken PNG data (") + stbi_failure_reason() + ")");
  if (w != img.width || h != img.height) throw InputError(origin, "broken PNG data (size mismatch)");
  size_t count = static_cast<size_t>(w) * h;
  uint8_t* out = img.rgb.data();
  if (grey16) {
    const auto* in = static_cast<const uint16_t*>(pixels.get());
    for (size_t i = 0; i < count; ++i) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = in[i] > 255 ? 255 : in[i];
  } else if (info.colour == 3) {
    // stb scaled sub-byte grey by 255, 85 or 17; undo it to get the palette index back.
    const int scale = info.depth == 1 ? 255 : info.depth == 2 ? 85 : info.depth == 4 ? 17 : 1;
    const auto* in = static_cast<const uint8_t*>(pixels.get());
    for (size_t i = 0; i < count; ++i) std::memcpy(out + 3 * i, info.palette[in[i] / scale], 3);
  } else {
    const auto* in = static_cast<const uint8_t*>(pixels.get());
    for (size_t i = 0; i < count; ++i, in += channels)
      for (int c = 0; c < 3; ++c) out[3 * i + c] = in[channels >= 3 ? c : 0];
  }
  return img;
}

}  // namespace lvlm::image_detail
