// BMP as PIL 9.4's BmpImagePlugin reads it. stb_image rounds 5-bit channels by bit replication
// (PIL truncates v * 255 / 31), has no RLE, and accepts layouts PIL refuses, hence our own.
// The structure follows PIL's: the header picks a raw mode ("P;4", "BGR;16", "XBGR", ...), a
// stride ((width * bits + 31) / 32 * 4) and a direction; a palette that is exactly the grey
// ramp turns the image into mode "1"/"L"; then rows are unpacked by raw mode.
#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "decoders.h"

namespace lvlm::image_detail {
namespace {

enum Compression : uint32_t { kRaw = 0, kRle8 = 1, kRle4 = 2, kBitfields = 3 };

struct BmpInfo {
  uint64_t width = 0, height = 0;
  int bits = 0, padding = 4, direction = -1;  // -1: bottom-up rows
  uint32_t compression = kRaw;
  uint64_t colors = 0;
  uint64_t offset = 0;     // pixel data
  size_t palette_pos = 0;  // where PIL reads the palette: right after header (and masks)
  std::string rawmode;     // PIL's name for the row layout
  bool grey = false;       // palette is the grey ramp: mode "1" or "L"
  Palette palette;
};

// BmpImageFile._bitmap, first half: the header's fields (and bit masks) by header size.
BmpInfo read_header(const uint8_t* p, size_t n, std::array<uint32_t, 4>& masks, const std::string& origin) {
  if (n < 18) throw InputError(origin, "image file is truncated (BMP header)");
  BmpInfo b;
  b.offset = le32(p + 10);
  const uint32_t header_size = le32(p + 14);
  if (header_size < 4 || n < 14 + uint64_t{header_size})
    throw InputError(origin, "image file is truncated (BMP header)");
  const uint8_t* h = p + 18;  // PIL's header_data: the header after its size field
  b.palette_pos = 14 + header_size;
  if (header_size == 12) {  // OS/2 1.x: 16-bit sizes, 3-byte palette entries
    b.width = le16(h), b.height = le16(h + 2), b.bits = static_cast<int>(le16(h + 6));
    b.padding = 3;
  } else if (header_size == 40 || header_size == 64 || header_size == 108 || header_size == 124) {
    const bool y_flip = h[7] == 0xFF;  // negative height: top-down rows
    b.direction = y_flip ? 1 : -1;
    b.width = le32(h);
    b.height = y_flip ? (uint64_t{1} << 32) - le32(h + 4) : le32(h + 4);
    b.bits = static_cast<int>(le16(h + 10));
    b.compression = le32(h + 12);
    b.colors = le32(h + 28);
    if (b.compression == kBitfields && header_size - 4 >= 52) {
      for (int i = 0; i < 4; ++i) masks[i] = le32(h + 36 + 4 * i);
    } else if (b.compression == kBitfields) {  // three masks after a 40-byte header
      if (n < b.palette_pos + 12) throw InputError(origin, "image file is truncated (BMP bit masks)");
      for (int i = 0; i < 3; ++i) masks[i] = le32(p + b.palette_pos + 4 * i);
      b.palette_pos += 12;
    }
  } else {
    throw InputError(origin, "unsupported BMP header type (" + std::to_string(header_size) + ")");
  }
  if (b.colors == 0) b.colors = uint64_t{1} << std::min(b.bits, 62);
  if (b.offset == 14 + header_size && b.bits <= 8) b.offset += 4 * b.colors;  // PIL's fix-up, as is
  return b;
}

// BmpImageFile._bitmap, second half: BIT2MODE, and the bit-field layouts PIL accepts.
void pick_rawmode(BmpInfo& b, const std::array<uint32_t, 4>& masks, const std::string& origin) {
  static const std::pair<int, const char*> kBit2Mode[] = {{1, "P;1"},     {4, "P;4"},  {8, "P"},
                                                          {16, "BGR;15"}, {24, "BGR"}, {32, "BGRX"}};
  auto mode =
      std::find_if(std::begin(kBit2Mode), std::end(kBit2Mode), [&b](const auto& m) { return m.first == b.bits; });
  if (mode == std::end(kBit2Mode))
    throw InputError(origin, "unsupported BMP pixel depth (" + std::to_string(b.bits) + ")");
  b.rawmode = mode->second;
  if (b.compression == kBitfields) {
    struct Layout {
      int bits;
      std::array<uint32_t, 4> masks;  // R, G, B, A; the alpha mask counts for 32-bit only
      const char* rawmode;
    };
    static const Layout kLayouts[] = {{32, {0xFF0000, 0xFF00, 0xFF, 0}, "BGRX"},
                                      {32, {0xFF000000, 0xFF0000, 0xFF00, 0}, "XBGR"},
                                      {32, {0xFF000000, 0xFF0000, 0xFF00, 0xFF}, "ABGR"},
                                      {32, {0xFF, 0xFF00, 0xFF0000, 0xFF000000}, "RGBA"},
                                      {32, {0xFF0000, 0xFF00, 0xFF, 0xFF000000}, "BGRA"},
                                      {32, {0, 0, 0, 0}, "BGRA"},
                                      {24, {0xFF0000, 0xFF00, 0xFF, 0}, "BGR"},
                                      {16, {0xF800, 0x7E0, 0x1F, 0}, "BGR;16"},
                                      {16, {0x7C00, 0x3E0, 0x1F, 0}, "BGR;15"}};
    const Layout* found = nullptr;
    for (const Layout& l : kLayouts)
      if (l.bits == b.bits && std::equal(l.masks.begin(), l.masks.begin() + (b.bits == 32 ? 4 : 3), masks.begin()))
        found = &l;
    if (!found) throw InputError(origin, "unsupported BMP bitfields layout");
    b.rawmode = found->rawmode;
  } else if (b.compression != kRaw && b.compression != kRle8 && b.compression != kRle4) {
    throw InputError(origin, "unsupported BMP compression (" + std::to_string(b.compression) + ")");
  }
}

// The palette and PIL's grey-ramp test (2 colours: black and white; else entry i == (i,i,i)).
// PIL reads it from just after the header (and masks), wherever the pixel offset points.
void read_palette(BmpInfo& b, const uint8_t* p, size_t n, const std::string& origin) {
  if (b.bits > 8) return;
  if (b.colors == 0 || b.colors > 65536)
    throw InputError(origin, "unsupported BMP palette size (" + std::to_string(b.colors) + ")");
  size_t avail = b.palette_pos < n ? n - b.palette_pos : 0;
  size_t bytes = std::min<size_t>(avail, b.padding * b.colors);
  const uint8_t* pal = p + b.palette_pos;
  b.grey = true;
  for (uint64_t i = 0; i < b.colors && b.grey; ++i) {
    uint64_t v = b.colors == 2 ? (i ? 255 : 0) : i & 255;  // PIL's o8() wraps at 256
    b.grey = i * b.padding + 3 <= bytes && pal[i * b.padding] == v && pal[i * b.padding + 1] == v &&
             pal[i * b.padding + 2] == v;
  }
  if (b.grey) {
    b.rawmode = b.colors == 2 ? "1" : "L";
    return;
  }
  if (bytes / b.padding > 256)
    throw InputError(origin, "invalid BMP palette size (" + std::to_string(b.colors) + " colours)");
  for (size_t i = 0; i < bytes / b.padding; ++i) {  // stored B, G, R(, X)
    const uint8_t* e = pal + i * b.padding;
    b.palette.set(static_cast<int>(i), e[2], e[1], e[0]);
  }
}

// PIL's raw modes for BMP rows, with their bits per pixel.
enum class Raw { bit1, p1, p4, p8, l8, bgr15, bgr16, bgr, bgrx, xbgr, rgba };

Raw raw_of(const std::string& m) {
  static const std::pair<const char*, Raw> kNames[] = {
      {"1", Raw::bit1},       {"P;1", Raw::p1},       {"P;4", Raw::p4},   {"P", Raw::p8},      {"L", Raw::l8},
      {"BGR;15", Raw::bgr15}, {"BGR;16", Raw::bgr16}, {"BGR", Raw::bgr},  {"BGRX", Raw::bgrx}, {"BGRA", Raw::bgrx},
      {"XBGR", Raw::xbgr},    {"ABGR", Raw::xbgr},    {"RGBA", Raw::rgba}};
  for (const auto& [name, raw] : kNames)
    if (m == name) return raw;
  throw std::logic_error("BMP raw mode " + m);
}

int raw_bits(Raw r) {
  switch (r) {
    case Raw::bit1:
    case Raw::p1:
      return 1;
    case Raw::p4:
      return 4;
    case Raw::p8:
    case Raw::l8:
      return 8;
    case Raw::bgr15:
    case Raw::bgr16:
      return 16;
    case Raw::bgr:
      return 24;
    default:
      return 32;
  }
}

// Unpack.c for the raw modes BMP uses, then convert("RGB"): palette lookup for "P", grey
// replicated for "1"/"L", 5- and 6-bit channels as v * 255 / 31 (63), truncated; alpha dropped.
void unpack_row(Raw m, const uint8_t* in, int width, const Palette& pal, uint8_t* out) {
  auto bit = [in](int x) { return (in[x >> 3] >> (7 - (x & 7))) & 1; };
  for (int x = 0; x < width; ++x, out += 3) {
    if (m == Raw::bit1 || m == Raw::l8) {
      out[0] = out[1] = out[2] = m == Raw::l8 ? in[x] : bit(x) ? 255 : 0;
    } else if (m == Raw::p1 || m == Raw::p4 || m == Raw::p8) {
      int i = m == Raw::p8 ? in[x] : m == Raw::p4 ? (in[x >> 1] >> (x & 1 ? 0 : 4)) & 15 : bit(x);
      std::memcpy(out, pal[i], 3);
    } else if (m == Raw::bgr15 || m == Raw::bgr16) {
      int v = in[2 * x] | (in[2 * x + 1] << 8), g6 = m == Raw::bgr16;  // G has 6 bits in 5-6-5
      out[0] = static_cast<uint8_t>(((v >> (10 + g6)) & 31) * 255 / 31);
      out[1] = static_cast<uint8_t>(g6 ? ((v >> 5) & 63) * 255 / 63 : ((v >> 5) & 31) * 255 / 31);
      out[2] = static_cast<uint8_t>((v & 31) * 255 / 31);
    } else {  // bytes per pixel, then where R, G and B sit
      static const int kBgr[4] = {3, 2, 1, 0}, kBgrx[4] = {4, 2, 1, 0}, kXbgr[4] = {4, 3, 2, 1},
                       kRgba[4] = {4, 0, 1, 2};
      const int* l = m == Raw::bgr ? kBgr : m == Raw::bgrx ? kBgrx : m == Raw::xbgr ? kXbgr : kRgba;
      for (int c = 0; c < 3; ++c) out[c] = in[l[0] * x + l[1 + c]];
    }
  }
}

// BmpRleDecoder.decode (Pillow 9.4), quirks kept: a delta escape reads four bytes and uses the
// last two; RLE4 absolute runs of odd length drop their last pixel; the word alignment is by
// file offset. Returns one palette index per pixel, in file row order.
std::vector<uint8_t> decode_rle(const uint8_t* p, size_t n, size_t pos, uint64_t width, uint64_t height, bool rle4,
                                const std::string& origin) {
  std::vector<uint8_t> data;
  const uint64_t total = width * height;
  uint64_t x = 0;
  while (data.size() < total) {
    if (pos + 2 > n) break;
    uint32_t count = p[pos], byte = p[pos + 1];
    pos += 2;
    if (count) {  // encoded run
      if (x + count > width) count = static_cast<uint32_t>(x < width ? width - x : 0);
      for (uint32_t i = 0; i < count; ++i) data.push_back(rle4 ? (i % 2 ? byte & 15 : byte >> 4) : byte);
      x += count;
    } else if (byte == 0) {  // end of line
      while (data.size() % width) data.push_back(0);
      x = 0;
    } else if (byte == 1) {  // end of bitmap
      break;
    } else if (byte == 2) {  // delta
      if (pos + 2 > n) break;
      if (pos + 4 > n) throw InputError(origin, "broken BMP RLE data (delta escape at the end of the file)");
      uint64_t right = p[pos + 2], up = p[pos + 3];
      pos += 4;
      data.insert(data.end(), std::min(right + up * width, total - data.size()), 0);  // past the end: done
      x = data.size() % width;
    } else {  // absolute run
      size_t want = rle4 ? byte / 2 : byte, got = std::min(want, n - pos);
      for (size_t i = 0; i < got; ++i) {
        if (rle4)
          data.push_back(p[pos + i] >> 4), data.push_back(p[pos + i] & 15);
        else
          data.push_back(p[pos + i]);
      }
      pos += got;
      if (got < want) break;
      x += byte;
      if (pos % 2) ++pos;
    }
  }
  if (data.size() < total) throw InputError(origin, "broken BMP RLE data (not enough image data)");
  return data;
}

}  // namespace

ImageU8 decode_bmp(std::string_view bytes, const std::string& origin, const DecodeLimits& limits) {
  const uint8_t* p = bytes_of(bytes);
  const size_t n = bytes.size();
  std::array<uint32_t, 4> masks{};
  BmpInfo b = read_header(p, n, masks, origin);
  pick_rawmode(b, masks, origin);
  check_image_size(b.width, b.height, origin, limits);
  read_palette(b, p, n, origin);
  if (b.offset == 0) {  // PIL: "offset or self.fp.tell()", i.e. just after the palette
    size_t avail = b.palette_pos < n ? n - b.palette_pos : 0;
    b.offset = b.palette_pos + (b.bits <= 8 ? std::min<uint64_t>(avail, b.padding * b.colors) : 0);
  }
  ImageU8 img = new_rgb_image(b.width, b.height, origin, limits);
  const int w = img.width, h = img.height;
  auto out_row = [&](int file_row) {
    int y = b.direction < 0 ? h - 1 - file_row : file_row;
    return img.rgb.data() + static_cast<size_t>(y) * w * 3;
  };
  if (b.compression == kRle8 || b.compression == kRle4) {
    if (b.rawmode == "1" || b.bits > 8)
      throw InputError(origin, "unsupported BMP: RLE data with " + std::to_string(b.bits) + "-bit pixels");
    std::vector<uint8_t> idx = decode_rle(p, n, b.offset, b.width, b.height, b.compression == kRle4, origin);
    const Raw mode = b.grey ? Raw::l8 : Raw::p8;  // BmpRleDecoder hands PIL one byte per pixel
    for (int r = 0; r < h; ++r) unpack_row(mode, idx.data() + static_cast<size_t>(r) * w, w, b.palette, out_row(r));
    return img;
  }
  const uint64_t stride = ((b.width * b.bits + 31) >> 3) & ~uint64_t{3};
  const Raw raw = raw_of(b.rawmode);
  const uint64_t row_bytes = (b.width * raw_bits(raw) + 7) / 8;
  if (stride < row_bytes)
    throw InputError(origin, "unsupported BMP: grey palette on " + std::to_string(b.bits) + "-bit pixels");
  if (b.offset > n || (n - b.offset) < (h - 1) * stride + row_bytes)
    throw InputError(origin, "image file is truncated (BMP pixel data)");
  for (int r = 0; r < h; ++r) unpack_row(raw, p + b.offset + r * stride, w, b.palette, out_row(r));
  return img;
}

}  // namespace lvlm::image_detail
