#include "image_lens.h"

#include <cmath>

#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

int64_t square_side(int64_t n) {
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return side * side == n ? side : 0;
}

}  // namespace

void image_grid(int64_t count, int* rows, int* cols, bool* cls_first) {
  int64_t side = square_side(count);
  *cls_first = side == 0 && count > 1 && square_side(count - 1) > 0;
  if (*cls_first) side = square_side(count - 1);
  if (side == 0)
    throw RuntimeFailure("--positions image: " + std::to_string(count) +
                         " image features form no square patch grid (with or without a leading CLS)");
  *rows = *cols = static_cast<int>(side);
}

ImageLens make_image_lens(const PreprocessResult& p, int64_t count, std::vector<TokenTrace> traces) {
  ImageLens lens;
  image_grid(count, &lens.grid_rows, &lens.grid_cols, &lens.cls_first);
  lens.input_width = p.width;
  lens.input_height = p.height;
  lens.original_width = p.source_width;
  lens.original_height = p.source_height;
  if (lens.cls_first) {
    lens.input_boxes.push_back({0, 0, double(p.width), double(p.height)});
    lens.original_boxes.push_back({0, 0, double(p.source_width), double(p.source_height)});
  }
  const double w = double(p.width) / lens.grid_cols, h = double(p.height) / lens.grid_rows;
  for (int r = 0; r < lens.grid_rows; ++r)
    for (int c = 0; c < lens.grid_cols; ++c) {
      const std::array<double, 4> box{c * w, r * h, (c + 1) * w, (r + 1) * h};
      lens.input_boxes.push_back(box);
      lens.original_boxes.push_back(original_box(p, box));
    }
  lens.positions = std::move(traces);
  lens.image_data_uri = data_uri("image/bmp", encode_bmp(p.cropped));
  return lens;
}

}  // namespace lvlm
