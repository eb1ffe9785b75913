#include "image_lens.h"

#include <algorithm>
#include <cmath>

#include "lvlm_probe/common.h"

namespace lvlm {
namespace {

ImageU8 page_copy(const ImageU8& original) {
  const int side = std::max(original.width, original.height);
  if (side <= kPageImageSide) return original;
  const double f = double(kPageImageSide) / side;
  return resize_bicubic(original, std::max(1, int(std::lround(original.width * f))),
                        std::max(1, int(std::lround(original.height * f))));
}

}  // namespace

ImageLens make_image_lens(const ImageGeometry& g, const ImageU8& original, std::vector<TokenTrace> traces) {
  if (static_cast<int64_t>(traces.size()) != g.num_tokens())
    throw RuntimeFailure("--positions image: " + std::to_string(traces.size()) + " image positions, but the image's " +
                         std::to_string(g.grid_rows) + "x" + std::to_string(g.grid_cols) + " grid" +
                         (g.leading_cls ? " and CLS make " : " makes ") + std::to_string(g.num_tokens()) + " tokens");
  ImageLens lens;
  lens.grid_rows = g.grid_rows;
  lens.grid_cols = g.grid_cols;
  lens.cls_first = g.leading_cls;
  lens.input_width = g.input_width;
  lens.input_height = g.input_height;
  lens.original_width = g.original_width;
  lens.original_height = g.original_height;
  const double w = double(g.input_width) / g.grid_cols, h = double(g.input_height) / g.grid_rows;
  for (int64_t i = 0; i < g.num_tokens(); ++i) {
    const int64_t cell = i - (g.leading_cls ? 1 : 0), r = cell / g.grid_cols, c = cell % g.grid_cols;
    lens.input_boxes.push_back(cell < 0 ? std::array<double, 4>{0, 0, double(g.input_width), double(g.input_height)}
                                        : std::array<double, 4>{c * w, r * h, (c + 1) * w, (r + 1) * h});
    const ImageGeometry::Box b = g.token_box(i);
    lens.original_boxes.push_back({b.left, b.top, b.right, b.bottom});
  }
  lens.positions = std::move(traces);
  lens.image_data_uri = data_uri("image/bmp", encode_bmp(page_copy(original)));
  return lens;
}

}  // namespace lvlm
