#include "rope_index.h"

#include <algorithm>

#include "lvlm_probe/common.h"

namespace lvlm::qwen2_vl {

RopeIndex rope_index(const std::vector<int>& ids, const std::vector<GridTHW>& grids, int merge, int image_token_id,
                     int vision_start_token_id) {
  const int64_t s = static_cast<int64_t>(ids.size());
  RopeIndex out;
  out.positions.assign(static_cast<size_t>(3 * s), 0);
  auto put = [&](int64_t slot, int64_t t, int64_t h, int64_t w) {
    out.positions[slot] = t, out.positions[s + slot] = h, out.positions[2 * s + slot] = w;
    out.next_position = std::max({out.next_position, t + 1, h + 1, w + 1});
  };
  // Images are counted as transformers does: a <|vision_start|> directly followed by an image pad.
  size_t images = 0;
  for (int64_t i = 0; i + 1 < s; ++i) images += ids[i] == vision_start_token_id && ids[i + 1] == image_token_id;
  if (images > grids.size())
    throw UsageError("the prompt introduces " + std::to_string(images) + " images but " + std::to_string(grids.size()) +
                     " image grids were given");
  int64_t slot = 0;
  auto text_until = [&](int64_t end) {  // text continues from the largest position so far + 1
    for (const int64_t first = out.next_position - slot; slot < end; ++slot) put(slot, first + slot, first + slot, first + slot);
  };
  for (size_t image = 0; image < images; ++image) {
    text_until(std::find(ids.begin() + slot, ids.end(), image_token_id) - ids.begin());
    const GridTHW& g = grids[image];
    const int64_t gh = g.h / merge, gw = g.w / merge, base = out.next_position;
    if (slot + g.t * gh * gw > s) throw UsageError("the prompt holds fewer image pads than the image has tokens");
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t y = 0; y < gh; ++y)
        for (int64_t x = 0; x < gw; ++x, ++slot) put(slot, base + t, base + y, base + x);
  }
  text_until(s);
  return out;
}

}  // namespace lvlm::qwen2_vl
