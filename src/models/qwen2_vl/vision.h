// The Qwen2-VL / Qwen2.5-VL vision tower as transformers runs it (Qwen2VisionTransformerPretrainedModel,
// Qwen2_5_VisionTransformerPretrainedModel, eager attention): a Conv3d patch embedding, 2-D rotary
// positions over (row, column) of each patch, transformer blocks that attend within one image
// (Qwen2.5-VL: within windows, except the full-attention blocks), and the patch merger that turns
// every 2 x 2 group of patches into one decoder token.
#pragma once

#include <vector>

#include "../layers.h"
#include "config.h"
#include "names.h"

namespace lvlm::qwen2_vl {

// image_grid_thw of one image, in patches: t frames (a still image is 1), h rows, w columns.
struct GridTHW {
  int64_t t = 1, h = 0, w = 0;
  int64_t patches() const { return t * h * w; }
};

// The 2-D rotary frequencies of every patch row, [patches, head_dim / 2] float32 in the pixel
// rows' merge-group order (t, h/m, w/m, m, m): the first half of the columns rotate by the patch's
// row, the second half by its column (Qwen2VisionTransformerPretrainedModel.rot_pos_emb).
at::Tensor vision_rotary_angles(const std::vector<GridTHW>& grids, int merge, int head_dim);

// Qwen2.5-VL's windows (get_window_index): the order in which merged patches enter the blocks
// (window by window, row-major inside a window of `window` x `window` merged patches) and the
// window boundaries in patch rows (cumulative, starting at 0, without empty windows).
struct WindowLayout {
  std::vector<int64_t> order;       // merged-patch index at each new place
  std::vector<int64_t> boundaries;  // cu_window_seqlens
};
WindowLayout window_layout(const std::vector<GridTHW>& grids, int merge, int window);

class VisionTower {
 public:
  VisionTower(WeightLoader& w, const WeightNames& names, const VisionConfig& config, bool windowed);

  // pixels: [sum of patches, C*T*P*P] float32 rows in the processor's order; returns the merged
  // features [sum of patches / merge^2, decoder hidden] in the compute dtype, image by image.
  at::Tensor forward(const at::Tensor& pixels, const std::vector<GridTHW>& grids) const;

 private:
  struct Block {
    LayerNorm norm1_ln, norm2_ln;  // Qwen2-VL
    RMSNorm norm1_rms, norm2_rms;  // Qwen2.5-VL
    Linear qkv, proj;
    Linear fc1, fc2;               // Qwen2-VL MLP
    Linear gate, up, down;         // Qwen2.5-VL MLP
  };
  at::Tensor norm1(const Block& b, const at::Tensor& x) const;
  at::Tensor norm2(const Block& b, const at::Tensor& x) const;
  at::Tensor attention(const Block& b, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       const std::vector<int64_t>& segments) const;
  at::Tensor mlp(const Block& b, const at::Tensor& x) const;
  at::Tensor merge_patches(const at::Tensor& x) const;
  at::Tensor activation(const at::Tensor& x) const;

  VisionConfig config_;
  bool windowed_;
  at::Tensor patch_weight_;  // Conv3d kernel flattened to [width, C*T*P*P]
  std::vector<Block> blocks_;
  LayerNorm merger_ln_;      // Qwen2-VL
  RMSNorm merger_rms_;       // Qwen2.5-VL
  Linear merger_fc1_, merger_fc2_;
};

}  // namespace lvlm::qwen2_vl
