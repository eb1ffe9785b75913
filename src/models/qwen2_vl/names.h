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
  std::string embed_tokens() const { return text + "embed_tokens.weight"; }
  std::string patch_embed() const { return vision + "patch_embed.proj.weight"; }  // Conv3d kernel, no bias
  // The merger's modules: ln_q, then mlp.0 (Linear), GELU, mlp.2 (Linear).
  std::string merger_norm() const { return vision + "merger.ln_q"; }
  std::string merger_linear(int i) const { return vision + "merger.mlp." + std::to_string(i == 1 ? 0 : 2); }
};

// Module prefixes (without ".weight") of vision block i: Qwen2-VL's MLP is fc1/fc2, Qwen2.5-VL's
// gate/up/down (all with biases); norm1/norm2 are LayerNorms (2-VL) or RMSNorms (2.5-VL).
struct VisionBlockNames {
  std::string norm1, norm2, qkv, proj, fc1, fc2, gate, up, down;
};
inline VisionBlockNames vision_block_names(const WeightNames& n, int i) {
  const std::string b = n.vision + "blocks." + std::to_string(i) + ".";
  return {b + "norm1", b + "norm2", b + "attn.qkv", b + "attn.proj", b + "mlp.fc1", b + "mlp.fc2",
          b + "mlp.gate_proj", b + "mlp.up_proj", b + "mlp.down_proj"};
}

inline WeightNames weight_names(bool new_layout) {
  if (new_layout) return {"model.language_model.", "model.visual.", "lm_head.weight"};
  return {"model.", "visual.", "lm_head.weight"};
}

// Picks the layout by which embedding table the checkpoint holds.
inline WeightNames weight_names_for(const WeightStore& store) {
  return weight_names(store.contains("model.language_model.embed_tokens.weight"));
}

}  // namespace lvlm::qwen2_vl
