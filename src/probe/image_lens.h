// The image_positions section of a probe: the patch grid of the image features and each
// position's box in the preprocessed and the original image, around the lens traces of those
// positions.
#pragma once

#include <vector>

#include "lvlm_probe/image.h"
#include "lvlm_probe/probe.h"

namespace lvlm {

// `count` image features over a square input of a CLIP tower: a square grid, or a square grid
// after one leading CLS (strategy `full`). RuntimeFailure for any other count.
void image_grid(int64_t count, int* rows, int* cols, bool* cls_first);

// The grid, the boxes (the CLS covers the whole image) and the input image as a data URI, with
// `traces` (one per image position, in order) as the lens part.
ImageLens make_image_lens(const PreprocessResult& preprocessed, int64_t count, std::vector<TokenTrace> traces);

}  // namespace lvlm
