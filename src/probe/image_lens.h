// The image_positions section of a probe: the patch grid of the image tokens and each position's
// box in the vision tower's input and in the original image (from the family's ImageGeometry),
// around the lens traces of those positions, with the original image for the page.
#pragma once

#include <vector>

#include "lvlm_probe/image.h"
#include "lvlm_probe/probe.h"
#include "lvlm_probe/processor.h"

namespace lvlm {

// The page's copy of the image: the original, shrunk (Pillow's bicubic) so that its long side is
// at most this many pixels.
inline constexpr int kPageImageSide = 384;

// RuntimeFailure when `traces` (one per image position, in order) do not match the geometry's
// token count.
ImageLens make_image_lens(const ImageGeometry& geometry, const ImageU8& original, std::vector<TokenTrace> traces);

}  // namespace lvlm
