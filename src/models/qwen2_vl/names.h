// Qwen2-VL / Qwen2.5-VL weight names exactly as transformers stores them. Two layouts exist:
//   transformers < 4.52:  model.layers.0..., model.embed_tokens, model.norm, visual.blocks.0...
//   transformers >= 4.52: model.language_model.layers.0..., model.visual.blocks.0...
// The LM head is lm_head.weight in both (absent when tied to the embeddings).
#pragma once

#include <string>

#include "lvlm_probe/checkpoint.h"

namespace lvlm::qwen2_vl {

struct WeightNames {
  std::string text;     // prefix of embed_tokens, layers.{i}, norm
  std::string vision;   // prefix of patch_embed, blocks.{i}, merger
  std::string lm_head;  // full name of the LM head weight

  std::string text_layer(int i) const { return text + "layers." + std::to_string(i) + "."; }
  std::string vision_block(int i) const { return vision + "blocks." + std::to_string(i) + "."; }
  std::string embed_tokens() const { return text + "embed_tokens.weight"; }
};

inline WeightNames weight_names(bool new_layout) {
  if (new_layout) return {"model.language_model.", "model.visual.", "lm_head.weight"};
  return {"model.", "visual.", "lm_head.weight"};
}

// Picks the layout by which embedding table the checkpoint holds.
inline WeightNames weight_names_for(const WeightStore& store) {
  return weight_names(store.contains("model.language_model.embed_tokens.weight"));
}

}  // namespace lvlm::qwen2_vl
