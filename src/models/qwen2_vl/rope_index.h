// Rotary positions of a Qwen2-VL prompt (transformers' Qwen2VLModel.get_rope_index, images only):
// text runs on one counter shared by the three axes; an image introduced by <|vision_start|>
// takes positions (t, row, column) of its merged-patch grid offset by where it starts, and the text
// after it resumes at the image's largest position + 1. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace lvlm::qwen2_vl {

// image_grid_thw of one image, in patches: t frames (a still image is 1), h rows, w columns.
struct GridTHW {
  int64_t t = 1, h = 0, w = 0;
  int64_t patches() const { return t * h * w; }
};

struct RopeIndex {
  std::vector<int64_t> positions;  // [3][S] row-major: temporal, height, width
  int64_t next_position = 0;       // of the first generated token: largest position + 1 (S + rope_delta)
};

// `ids` with every image's pads expanded (t * h * w / merge^2 each), `grids` one per image in order.
RopeIndex rope_index(const std::vector<int>& ids, const std::vector<GridTHW>& grids, int merge, int image_token_id,
                     int vision_start_token_id);

}  // namespace lvlm::qwen2_vl
