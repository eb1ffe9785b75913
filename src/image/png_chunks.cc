// The chunk walk of PIL 9.4's PngImagePlugin (PngStream, PngImageFile._open/load_read/load_end).
#include "png_chunks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace lvlm::image_detail {
namespace {

uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc = 0) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

bool is_chunk_name(const uint8_t* p) {  // PngImagePlugin.is_cid: four of [A-Za-z0-9_]
  for (int i = 0; i < 4; ++i)
    if (!std::isalnum(p[i]) && p[i] != '_') return false;
  return true;
}

void parse_ihdr(const uint8_t* d, uint32_t len, PngInfo& info, const std::string& origin) {
  if (len < 13) throw InputError(origin, "truncated IHDR chunk");
  info.width = be32(d);
  info.height = be32(d + 4);
  info.depth = d[8];
  info.colour = d[9];
  static const int kDepths[7][6] = {{1, 2, 4, 8, 16}, {}, {8, 16}, {1, 2, 4, 8}, {8, 16}, {}, {8, 16}};
  bool known = info.colour <= 6;
  if (known) known = std::find(kDepths[info.colour], kDepths[info.colour] + 5, info.depth) != kDepths[info.colour] + 5;
  if (!known || info.depth == 0)
    throw InputError(origin, "unknown PNG mode (bit depth " + std::to_string(info.depth) + ", colour type " +
                                 std::to_string(info.colour) + ")");
  if (d[11] != 0) throw InputError(origin, "broken PNG file (unknown filter category)");
  info.interlace = d[12] != 0;  // PIL: any non-zero value means Adam7
}

// PngImageFile.load_end: after the image data PIL reads on to IEND (or, in an animation, to the
// next frame) and fails on a chunk that claims more bytes than the file has; a short header or a
// name that is not 4 letters ends the walk quietly.
void check_trailing_chunks(std::string_view data, size_t pos, bool animated, const std::string& origin) {
  const uint8_t* p = bytes_of(data);
  const size_t n = data.size();
  for (; pos + 8 <= n; pos += 12 + static_cast<size_t>(be32(p + pos))) {
    if (!is_chunk_name(p + pos + 4)) return;
    std::string cid(reinterpret_cast<const char*>(p + pos + 4), 4);
    if (cid == "IEND" || (cid == "fcTL" && animated)) return;
    if (be32(p + pos) > n - pos - 8)
      throw InputError(origin, "image file is truncated (PNG chunk " + cid + " after the image data)");
  }
}

// PngStream.chunk_fcTL for a frame control chunk before IDAT (the IDAT image is frame 0).
void check_first_fctl(const uint8_t* d, uint32_t len, const PngInfo& info, const std::string& origin) {
  if (len < 26) throw InputError(origin, "APNG contains a truncated fcTL chunk");
  if (be32(d) != 0) throw InputError(origin, "APNG contains frame sequence errors");
  uint64_t w = be32(d + 4), h = be32(d + 8), x = be32(d + 12), y = be32(d + 16);
  if (x + w > info.width || y + h > info.height) throw InputError(origin, "APNG contains invalid frames");
  if (x || y || w != info.width || h != info.height)  // PIL would decode IDAT into that box
    throw InputError(origin, "unsupported APNG: the first frame does not cover the whole image");
}

}  // namespace

PngInfo scan_png_chunks(std::string_view data, const std::string& origin) {
  const uint8_t* p = bytes_of(data);
  size_t pos = 8, n = data.size();
  PngInfo info;
  bool have_header = false, animated = false;
  for (;;) {
    if (pos + 8 > n) throw InputError(origin, "image file is truncated (no PNG image data)");
    uint32_t len = be32(p + pos);
    const uint8_t* name = p + pos + 4;
    std::string cid(reinterpret_cast<const char*>(name), 4);
    if (!is_chunk_name(name)) throw InputError(origin, "broken PNG file (chunk name is not 4 letters)");
    if (cid == "IDAT") break;
    if (len > n || pos + 12 + len > n) throw InputError(origin, "image file is truncated (in PNG chunk " + cid + ")");
    const uint8_t* d = name + 4;
    if (crc32(name, 4 + static_cast<size_t>(len)) != be32(d + len))
      throw InputError(origin, "broken PNG file (bad header checksum in " + cid + ")");
    if (cid == "IHDR") parse_ihdr(d, len, info, origin), have_header = true;
    if (cid == "acTL") animated = true;
    if (cid == "PLTE" && info.colour == 3)
      for (uint32_t i = 0; i < std::min<uint32_t>(len / 3, 256); ++i)
        info.palette.set(i, d[3 * i], d[3 * i + 1], d[3 * i + 2]);
    if (cid == "PLTE" && len / 3 > 256) throw InputError(origin, "invalid palette size in PNG PLTE chunk");
    if (cid == "IEND" || cid == "fdAT")
      throw InputError(origin, "PNG file has no image data (IDAT) for its first frame");
    if (cid == "fcTL") check_first_fctl(d, len, info, origin);
    pos += 12 + static_cast<size_t>(len);
  }
  if (!have_header) throw InputError(origin, "broken PNG file (no IHDR chunk before the image data)");
  // PIL reads IDAT chunks while they follow one another (PngImageFile.load_read), 64 KiB at a
  // time (ImageFile.load's decodermaxblock), and does not check their CRCs. A chunk cut by the end
  // of the file gives what is there: PIL is content if the rows are complete.
  while (pos + 8 <= n && std::memcmp(p + pos + 4, "IDAT", 4) == 0) {
    size_t len = be32(p + pos);
    if (len > n - pos - 8) len = n - pos - 8, info.idat_cut = true;
    for (size_t off = 0; off < len; off += std::min<size_t>(65536, len - off))
      info.read_ends.push_back(info.idat.size() + std::min<size_t>(off + 65536, len));
    info.idat.append(data.substr(pos + 8, len));
    pos += 12 + len;
  }
  check_trailing_chunks(data, pos, animated, origin);
  return info;
}

}  // namespace lvlm::image_detail
