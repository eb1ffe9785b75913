// PNG's chunk structure as PIL 9.4's PngStream walks it (PngImagePlugin.py): what png.cc needs
// before stb_image decodes the pixels.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "decoders.h"

namespace lvlm::image_detail {

struct PngInfo {
  uint32_t width = 0, height = 0;
  int depth = 0, colour = 0, interlace = 0;
  Palette palette;
  std::string idat;               // the IDAT run's data, concatenated: one zlib stream
  std::vector<size_t> read_ends;  // where PIL's reads of it end (<= 64 KiB, within one chunk)
  bool idat_cut = false;          // the last IDAT chunk runs past the end of the file
};

// Every chunk before the first IDAT must carry a valid CRC (PngStream.crc); IHDR, PLTE and a
// first fcTL are read as PIL reads them; the run of IDAT chunks that follows is the image data;
// the chunks after it are walked as PngImageFile.load_end does. InputError where PIL fails.
PngInfo scan_png_chunks(std::string_view data, const std::string& origin);

}  // namespace lvlm::image_detail
