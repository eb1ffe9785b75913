// JPEG through libjpeg-turbo with the settings PIL 9.4 uses (JpegDecode.c / JpegImagePlugin.py):
// libjpeg's defaults (ISLOW DCT, fancy upsampling, block smoothing; no draft/scale), output
// colour space by component count (1: grey, 3: RGB, 4: CMYK read as Adobe-inverted).
//
// PIL feeds libjpeg through a suspending source. Our source suspends the same way at the end of
// the file, which gives PIL's verdicts: libjpeg suspending before the last scanline is PIL's
// "image file is truncated"; suspending after it (in jpeg_finish_decompress, say for a missing
// EOI) is fine; libjpeg's warnings (corrupt data) are not errors and the recovered pixels stand;
// libjpeg's errors are errors, even after the last scanline.
// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on
#include <setjmp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "decoders.h"

namespace lvlm::image_detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char first_warning[JMSG_LENGTH_MAX] = {0};
  char error[JMSG_LENGTH_MAX] = {0};
};

// All decoder state lives here, outside the frame that calls setjmp, so nothing the longjmp
// skips over needs a destructor and nothing read after it is cached in a register.
struct Job {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  jpeg_source_mgr src;
  const std::string* origin = nullptr;
  const DecodeLimits* limits = nullptr;
  ImageU8 image;
  std::vector<uint8_t> row;
};

enum class Outcome { done, truncated, error };

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->error);
  longjmp(err->jump, 1);
}

// Warnings (level < 0) are counted, as libjpeg's default does, and the first one kept for the
// log line; trace messages are dropped. PIL's output_message prints nothing at all.
void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (err->pub.num_warnings++ == 0) (*cinfo->err->format_message)(cinfo, err->first_warning);
}

void init_source(j_decompress_ptr) {}
void term_source(j_decompress_ptr) {}
// The whole file is in the buffer from the start: wanting more means suspending for good.
boolean fill_input(j_decompress_ptr) { return FALSE; }

void skip_input(j_decompress_ptr cinfo, long num_bytes) {
  if (num_bytes <= 0) return;
  jpeg_source_mgr* src = cinfo->src;
  size_t skip = std::min(static_cast<size_t>(num_bytes), src->bytes_in_buffer);  // past the end: suspend next
  src->next_input_byte += skip;
  src->bytes_in_buffer -= skip;
}

// Pillow's MULDIV255 (ImagingUtils.h): a * b / 255 rounded, in integers.
inline int muldiv255(int a, int b) {
  int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// One scanline of libjpeg output to RGB: grey replicated (Convert.c l2rgb); CMYK inverted
// (PIL's rawmode "CMYK;I") and then Convert.c cmyk2rgb: channel = nk - nk * c / 255.
void row_to_rgb(const uint8_t* in, int components, int width, uint8_t* out) {
  if (components == 1) {
    for (int x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
  } else if (components == 3) {
    std::copy(in, in + 3 * width, out);
  } else {
    for (int x = 0; x < width; ++x, in += 4, out += 3) {
      int nk = in[3];  // 255 - (255 - raw K)
      for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(nk - muldiv255(255 - in[c], nk));
    }
  }
}

// JpegDecode.c's states in one pass. May throw InputError from the size check; the caller
// destroys the decompressor in every case.
Outcome run(Job& job) {
  j_decompress_ptr cinfo = &job.cinfo;
  if (setjmp(job.err.jump)) return Outcome::error;
  if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK) return Outcome::truncated;
  if (cinfo->num_components != 1 && cinfo->num_components != 3 && cinfo->num_components != 4)
    throw InputError(*job.origin, "cannot handle " + std::to_string(cinfo->num_components) + "-layer JPEG images");
  cinfo->out_color_space = cinfo->num_components == 1 ? JCS_GRAYSCALE : cinfo->num_components == 3 ? JCS_RGB : JCS_CMYK;
  job.image = new_rgb_image(cinfo->image_width, cinfo->image_height, *job.origin, *job.limits);
  if (!jpeg_start_decompress(cinfo)) return Outcome::truncated;
  job.row.resize(static_cast<size_t>(cinfo->output_width) * cinfo->output_components);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW rows[1] = {job.row.data()};
    uint8_t* out = job.image.rgb.data() + static_cast<size_t>(cinfo->output_scanline) * job.image.width * 3;
    if (jpeg_read_scanlines(cinfo, rows, 1) != 1) return Outcome::truncated;
    row_to_rgb(job.row.data(), cinfo->output_components, job.image.width, out);
  }
  jpeg_finish_decompress(cinfo);  // FALSE = suspended before EOI: PIL does not mind
  return Outcome::done;
}

struct DestroyGuard {
  j_decompress_ptr cinfo;
  ~DestroyGuard() { jpeg_destroy_decompress(cinfo); }
};

}  // namespace

ImageU8 decode_jpeg(std::string_view data, const std::string& origin, const DecodeLimits& limits) {
  Job job;
  job.origin = &origin;
  job.limits = &limits;
  job.cinfo.err = jpeg_std_error(&job.err.pub);
  job.err.pub.error_exit = on_error;
  job.err.pub.emit_message = on_message;
  jpeg_create_decompress(&job.cinfo);
  DestroyGuard guard{&job.cinfo};
  job.src.init_source = init_source;
  job.src.fill_input_buffer = fill_input;
  job.src.skip_input_data = skip_input;
  job.src.resync_to_restart = jpeg_resync_to_restart;
  job.src.term_source = term_source;
  job.src.next_input_byte = bytes_of(data);
  job.src.bytes_in_buffer = data.size();
  job.cinfo.src = &job.src;

  switch (run(job)) {
    case Outcome::truncated:  // ImageFile.load's message
      throw InputError(origin, "image file is truncated (JPEG data ends before the last scanline)");
    case Outcome::error:
      throw InputError(origin, std::string("broken JPEG data: ") + job.err.error);
    case Outcome::done:
      break;
  }
  if (job.err.pub.num_warnings > 0)
    spdlog::warn("{}: damaged JPEG data: {} ({} warning(s)); using the recovered pixels, as PIL does", origin,
                 job.err.first_warning, job.err.pub.num_warnings);
  return std::move(job.image);
}

}  // namespace lvlm::image_detail
