// CLIP ViT vision tower as transformers' CLIPVisionTransformer runs it for LLaVA-style families:
// patch embedding + class token + positions, pre-layernorm, encoder layers. Only the layers up to
// the selected feature layer run; the post-layernorm is never used. A shared building block.
#pragma once

#include <vector>

#include "block_configs.h"
#include "layers.h"

namespace lvlm {

class ClipVisionTower {
 public:
  // Loads the embeddings and the first `layers_used` encoder layers; later layers are left
  // unloaded (they do not affect the selected features).
  ClipVisionTower(WeightLoader& w, const std::string& prefix, const VisionConfig& config, int layers_used);

  // pixel_values [1, 3, H, W] -> hidden_states[index] of transformers' tuple, [1 + patches, hidden].
  at::Tensor hidden_state(const at::Tensor& pixel_values, int index) const;

 private:
  struct Layer {
    LayerNorm norm1, norm2;
    Linear q, k, v, out, fc1, fc2;
  };
  at::Tensor embed(const at::Tensor& pixel_values) const;
  at::Tensor attention(const Layer& layer, const at::Tensor& x) const;
  at::Tensor mlp(const Layer& layer, const at::Tensor& x) const;

  VisionConfig config_;
  at::Tensor patch_weight_, class_embedding_, position_embedding_;
  LayerNorm pre_norm_;
  std::vector<Layer> layers_;
};

}  // namespace lvlm
