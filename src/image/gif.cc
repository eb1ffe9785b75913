// GIF, first frame, as PIL 9.4 reads it (GifImagePlugin.py _open/_seek(0)/load_prepare and
// libImaging/GifDecode.c). stb_image differs on every point that matters here, hence our own:
//  - the canvas is the logical screen, grown to hold the frame if the frame pokes out of it;
//  - pixels the frame does not cover hold the frame's transparent index if it has one, else
//    index 0 (never the background colour); transparent pixels keep their palette colour;
//  - the palette is the local one unless that is a plain grey ramp, else the global one, with
//    PIL's grey ramp past the entries the file gives (and for files without any palette);
//  - the LZW stream must fill the frame: PIL raises "image file is truncated" otherwise.
#include <algorithm>
#include <cstring>
#include <vector>

#include "decoders.h"

namespace lvlm::image_detail {
namespace {

struct Reader {
  const uint8_t* p;
  size_t n, pos = 0;
  const std::string& origin;
  uint8_t byte() {
    if (pos >= n) throw InputError(origin, "image file is truncated (GIF header)");
    return p[pos++];
  }
  const uint8_t* take(size_t count) {
    if (count > n - pos) throw InputError(origin, "image file is truncated (GIF header)");
    pos += count;
    return p + pos - count;
  }
  // GifImageFile.data(): one sub-block, or nullptr at a terminator (or the end of the file).
  const uint8_t* sub_block(size_t& size) {
    size = pos < n ? p[pos++] : 0;
    return size ? take(size) : nullptr;
  }
};

// GifImageFile._is_palette_needed: false for a palette whose entry i is (i, i, i).
bool palette_needed(const uint8_t* p, int entries) {
  for (int i = 0; i < entries; ++i)
    if (p[3 * i] != i || p[3 * i + 1] != i || p[3 * i + 2] != i) return true;
  return false;
}

struct Frame {
  int x0 = 0, y0 = 0, width = 0, height = 0, min_code_bits = 0, transparency = -1;
  bool interlace = false;
  const uint8_t* local_palette = nullptr;
  int local_entries = 0;
};

// GifImageFile._seek(0): extensions up to the first image descriptor.
Frame read_first_frame_header(Reader& r) {
  Frame f;
  for (;;) {
    if (r.pos >= r.n || r.p[r.pos] == ';') throw InputError(r.origin, "GIF file has no image");
    uint8_t s = r.byte();
    size_t size = 0;
    if (s == '!') {
      uint8_t label = r.byte();
      const uint8_t* block = r.sub_block(size);
      if (label == 0xF9) {  // graphic control: transparent index
        if (!block || size < 3 || ((block[0] & 1) && size < 4))
          throw InputError(r.origin, "broken GIF file (short graphic control extension)");
        if (block[0] & 1) f.transparency = block[3];
      } else if (label == 0xFF && block && size >= 11 && std::memcmp(block, "NETSCAPE2.0", 11) == 0) {
        if (!r.sub_block(size)) throw InputError(r.origin, "broken GIF file (empty NETSCAPE2.0 extension)");
      }
      if (label != 0xFE || block)
        while (r.sub_block(size)) {
        }
    } else if (s == ',') {
      const uint8_t* d = r.take(9);
      f.x0 = le16(d), f.y0 = le16(d + 2), f.width = le16(d + 4), f.height = le16(d + 6);
      f.interlace = d[8] & 64;
      if (d[8] & 128) {
        f.local_entries = 1 << ((d[8] & 7) + 1);
        f.local_palette = r.take(3 * static_cast<size_t>(f.local_entries));
      }
      f.min_code_bits = r.byte();
      return f;
    }  // any other byte is skipped, as PIL does
  }
}

// GifDecode.c, with the frame's remaining bytes as input. Writes frame indices into `canvas`
// (stride `canvas_width`) at (x0, y0). Throws where PIL reports an error.
class Lzw {
 public:
  Lzw(const Frame& f, const uint8_t* data, size_t size, const std::string& origin)
      : f_(f), p_(data), n_(size), origin_(origin) {}
  void decode(uint8_t* canvas, int canvas_width);

 private:
  int next_code();
  bool put(uint8_t index);  // false once the frame is full

  const Frame& f_;
  const uint8_t* p_;
  size_t n_, pos_ = 0, block_left_ = 0;
  const std::string& origin_;
  uint32_t bitbuffer_ = 0;
  int bitcount_ = 0, codesize_ = 0;
  uint8_t* out_ = nullptr;
  int stride_ = 0, x_ = 0, y_ = 0, step_ = 1, pass_ = 0;
};

int Lzw::next_code() {
  while (bitcount_ < codesize_) {
    if (block_left_ == 0) {  // a size byte; PIL reads on past a zero-size terminator
      if (pos_ >= n_ || size_t{p_[pos_]} + 1 > n_ - pos_)
        throw InputError(origin_, "image file is truncated (GIF image data ends before the frame is complete)");
      block_left_ = p_[pos_++];
      continue;
    }
    bitbuffer_ |= static_cast<uint32_t>(p_[pos_++]) << bitcount_;
    --block_left_;
    bitcount_ += 8;
  }
  int c = static_cast<int>(bitbuffer_ & ((1u << codesize_) - 1));
  bitbuffer_ >>= codesize_;
  bitcount_ -= codesize_;
  return c;
}

// GifDecode.c's NEWLINE: rows 0, 8, 16... then 4, 12... then 2, 6... then 1, 3... if interlaced.
bool Lzw::put(uint8_t index) {
  out_[static_cast<size_t>(f_.y0 + y_) * stride_ + f_.x0 + x_] = index;
  if (++x_ < f_.width) return true;
  x_ = 0;
  y_ += step_;
  while (y_ >= f_.height) {
    if (!f_.interlace || pass_ == 3) return false;
    static const int kStart[3] = {4, 2, 1}, kStep[3] = {8, 4, 2};
    y_ = kStart[pass_];
    step_ = kStep[pass_++];
  }
  return true;
}

void Lzw::decode(uint8_t* canvas, int canvas_width) {
  out_ = canvas;
  stride_ = canvas_width;
  step_ = f_.interlace ? 8 : 1;
  if (f_.min_code_bits > 12) throw InputError(origin_, "broken GIF file (LZW code size above 12 bits)");
  const int clear = 1 << f_.min_code_bits, end = clear + 1;
  uint16_t link[4096];
  uint8_t suffix[4096], stack[4096];
  int next = 0, lastcode = 0;
  uint8_t lastdata = 0;
  bool first = true;
  for (;;) {
    if (first) next = clear + 2, codesize_ = f_.min_code_bits + 1;
    int c = next_code();
    if (c == clear) {
      first = true;
      continue;
    }
    if (c == end)
      throw InputError(origin_, "image file is truncated (GIF image data ends before the frame is complete)");
    int len = 0;
    if (first) {
      if (c > clear) throw InputError(origin_, "broken GIF image data (bad first LZW code)");
      lastdata = static_cast<uint8_t>(c), lastcode = c, first = false;
      stack[len++] = lastdata;
    } else {
      if (c > next) throw InputError(origin_, "broken GIF image data (LZW code out of range)");
      int thiscode = c;
      if (c == next) stack[len++] = lastdata, c = lastcode;  // the KwKwK case
      for (; c >= clear; c = link[c]) stack[len++] = suffix[c];
      stack[len++] = static_cast<uint8_t>(c);
      lastdata = static_cast<uint8_t>(c);
      if (next < 4096) {
        suffix[next] = lastdata, link[next] = static_cast<uint16_t>(lastcode);
        if (next == (1 << codesize_) - 1 && codesize_ < 12) ++codesize_;
        ++next;
      }
      lastcode = thiscode;
    }
    while (len > 0)
      if (!put(stack[--len])) return;
  }
}

}  // namespace

ImageU8 decode_gif(std::string_view data, const std::string& origin, const DecodeLimits& limits) {
  Reader r{bytes_of(data), data.size(), 0, origin};
  const uint8_t* head = r.take(13);
  int width = le16(head + 6), height = le16(head + 8);
  const uint8_t* global = nullptr;
  int global_entries = 0;
  if (head[10] & 128) {
    global_entries = 1 << ((head[10] & 7) + 1);
    global = r.take(3 * static_cast<size_t>(global_entries));
  }
  Frame f = read_first_frame_header(r);
  width = std::max(width, f.x0 + f.width);
  height = std::max(height, f.y0 + f.height);
  check_image_size(width, height, origin, limits);
  if (f.x0 == 0 && f.width == 0) {  // decode.c _setimage: a tile with x0 == x1 == 0 is the whole image
    f.y0 = 0, f.width = width, f.height = height;
  } else if (f.width == 0 || f.height == 0) {
    throw InputError(origin, "broken GIF file (tile cannot extend outside image)");
  }

  std::vector<uint8_t> indices(static_cast<size_t>(width) * height, f.transparency >= 0 ? f.transparency : 0);
  Lzw(f, r.p + r.pos, r.n - r.pos, origin).decode(indices.data(), width);

  Palette palette;
  bool local = f.local_palette && palette_needed(f.local_palette, f.local_entries);
  const uint8_t* pal = local ? f.local_palette : global;
  int entries = local ? f.local_entries : global_entries;
  for (int i = 0; pal && i < entries; ++i) palette.set(i, pal[3 * i], pal[3 * i + 1], pal[3 * i + 2]);

  ImageU8 img = new_rgb_image(width, height, origin, limits);
  for (size_t i = 0; i < indices.size(); ++i) std::memcpy(&img.rgb[3 * i], palette[indices[i]], 3);
  return img;
}

}  // namespace lvlm::image_detail
