// LLaVA weight names exactly as transformers stores them. Two layouts exist:
//   transformers < 4.52: language_model.model.layers.0...,  language_model.lm_head.weight,
//                        vision_tower.vision_model...,      multi_modal_projector...
//   transformers >= 4.52: model.language_model.layers.0..., lm_head.weight,
//                        model.vision_tower.vision_model..., model.multi_modal_projector...
#pragma once

#include <string>

#include "lvlm_probe/checkpoint.h"

namespace lvlm::llava {

struct WeightNames {
  std::string text;       // prefix of embed_tokens, layers.{i}, norm
  std::string lm_head;    // full name of the LM head weight
  std::string vision;     // prefix of embeddings, pre_layrnorm, encoder.layers.{i}
  std::string projector;  // prefix of linear_1, linear_2

  std::string text_layer(int i) const { return text + "layers." + std::to_string(i) + "."; }
  std::string vision_layer(int i) const { return vision + "encoder.layers." + std::to_string(i) + "."; }
};

// Picks the layout by which embedding table the checkpoint holds.
inline WeightNames weight_names_for(const WeightStore& store) {
  if (store.contains("model.language_model.embed_tokens.weight"))
    return {"model.language_model.", "lm_head.weight", "model.vision_tower.vision_model.",
            "model.multi_modal_projector."};
  return {"language_model.model.", "language_model.lm_head.weight", "vision_tower.vision_model.",
          "multi_modal_projector."};
}

}  // namespace lvlm::llava
