// ImageGeometry::token_box: which part of the original image an image token covers.
#include <algorithm>
#include <stdexcept>

#include "lvlm_probe/processor.h"

namespace lvlm {

ImageGeometry::Box ImageGeometry::token_box(int64_t index) const {
  if (index < 0 || index >= num_tokens())
    throw std::out_of_range("image token " + std::to_string(index) + " of " + std::to_string(num_tokens()));
  Box input{0, 0, double(input_width), double(input_height)};  // the CLS token sees the whole input
  const int64_t cell = index - (leading_cls ? 1 : 0);
  if (cell >= 0) {
    const double width = double(input_width) / grid_cols, height = double(input_height) / grid_rows;
    const int64_t row = cell / grid_cols, col = cell % grid_cols;
    input = {col * width, row * height, (col + 1) * width, (row + 1) * height};
  }
  auto x = [&](double v) { return std::clamp(offset_x + v * scale_x, 0.0, double(original_width)); };
  auto y = [&](double v) { return std::clamp(offset_y + v * scale_y, 0.0, double(original_height)); };
  return {x(input.left), y(input.top), x(input.right), y(input.bottom)};
}

}  // namespace lvlm
