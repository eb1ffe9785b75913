// A model family's processor, torch-free: an image becomes the pixels its vision tower takes, a
// question becomes prompt ids through the family's template, answer ids become text. Each family
// implements one (src/models/<family>/processor.cc); the probe asks it instead of knowing CLIP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lvlm_probe/image.h"
#include "lvlm_probe/text.h"

namespace lvlm {

// Where each image token of one image sits in the original image, without torch: the vision
// tower's input is a grid of cells (a patch, or a merged group of patches), one token each, in
// row-major order, optionally after a CLS token that sees the whole image.
struct ImageGeometry {
  int original_width = 0, original_height = 0;  // the decoded image
  int input_width = 0, input_height = 0;        // what the vision tower sees (after resize, crop, pad)
  // Input pixel (x, y) is original pixel (offset_x + x * scale_x, offset_y + y * scale_y): a
  // centre crop gives positive offsets, LLaVA's pad to a square negative ones.
  double scale_x = 1, scale_y = 1, offset_x = 0, offset_y = 0;
  int grid_rows = 0, grid_cols = 0;  // image tokens as a row-major grid over the input
  bool leading_cls = false;          // one token before the grid that covers the whole image

  int64_t num_tokens() const { return int64_t(grid_rows) * grid_cols + (leading_cls ? 1 : 0); }
  // A rectangle in original pixels: [left, right) x [top, bottom), clipped to the image.
  struct Box {
    double left = 0, top = 0, right = 0, bottom = 0;
  };
  // The part of the original image token `index` (0-based within this image's run) covers.
  // std::out_of_range for an index outside 0..num_tokens()-1.
  Box token_box(int64_t index) const;
};

// One image as the family's model takes it.
struct PreparedImage {
  std::vector<float> pixels;      // float32, row-major, in the family's own layout
  std::vector<int64_t> shape;     // LLaVA {1, 3, H, W}; Qwen2-VL {patches, channels * T * patch * patch}
  std::vector<int64_t> grid_thw;  // Qwen2-VL's image_grid_thw {t, h, w} in patches; empty for LLaVA
  int64_t num_tokens = 0;         // positions the image takes in the sequence
  ImageGeometry geometry;
};

struct ImageOptions {
  bool pad_square = false;  // the original LLaVA repo's expand2square (families without it refuse it)
};

class Processor {
 public:
  virtual ~Processor() = default;
  // `origin` names the image in messages. InputError for images the family cannot take.
  virtual PreparedImage prepare_image(const ImageU8& image, const ImageOptions& options,
                                      const std::string& origin) const = 0;
  // The template a request without one gets ("llava_v1" for LLaVA).
  virtual std::string default_template() const = 0;
  // UsageError naming the valid templates when `name` is not one of this family's.
  virtual void check_template(const std::string& name) const = 0;
  // The prompt text the template makes of the question (the report's prompt_text).
  virtual std::string prompt_text(const std::string& template_name, const std::string& question) const = 0;
  // The prompt ids of the question with one image (nullptr: none). A family whose model expands
  // one image token itself (LLaVA) ignores the image; one whose processor expands it (Qwen2-VL)
  // writes image->num_tokens of them. Calls require_tokenizer() first.
  virtual std::vector<int> prompt_ids(const std::string& template_name, const std::string& question,
                                      const PreparedImage* image) const = 0;
  // The checkpoint's tokenizer; nullptr when it has none (then only explicit ids can be probed).
  virtual const TextTokenizer* tokenizer() const = 0;
  // InputError naming the tokenizer file the checkpoint lacks (with a hint to give ids instead).
  virtual void require_tokenizer() const = 0;
};

}  // namespace lvlm
