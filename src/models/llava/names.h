// LLaVA weight names exactly as transformers stores them: the prefixes of the blocks (whose own
// names are in ../block_tensors.h), used by the loader and by make-model. Two layouts exist:
//   transformers < 4.52: language_model.model.layers.0...,  language_model.lm_head.weight,
//                        vision_tower.vision_model...,      multi_modal_projector...
//   transformers >= 4.52: model.language_model.layers.0..., lm_head.weight,
//                        model.vision_tower.vision_model..., model.multi_modal_projector...
#pragma once

#include <string>

#include "../block_tensors.h"
#include "lvlm_probe/checkpoint.h"

namespace lvlm::llava {

struct WeightNames {
  std::string text;       // prefix of the decoder (embed_tokens, layers.{i}, norm)
  std::string lm_head;    // full name of the LM head weight
  std::string vision;     // prefix of the CLIP tower (embeddings, pre_layrnorm, encoder.layers.{i})
  std::string projector;  // prefix of linear_1, linear_2

  std::string text_layer(int i) const { return decoder_layer_prefix(text, i); }
  std::string vision_layer(int i) const { return clip_layer_prefix(vision, i); }
  std::string projector_linear(int i) const { return projector + "linear_" + std::to_string(i); }
};

// transformers 4.40's layout, which make-model writes.
inline WeightNames weight_names_before_4_52() {
  return {"language_model.model.", "language_model.lm_head.weight", "vision_tower.vision_model.",
          "multi_modal_projector."};
}

// Picks the layout by which embedding table the checkpoint holds.
inline WeightNames weight_names_for(const WeightStore& store) {
  const WeightNames after = {"model.language_model.", "lm_head.weight", "model.vision_tower.vision_model.",
                             "model.multi_modal_projector."};
  if (store.contains(decoder_embedding_name(after.text))) return after;
  return weight_names_before_4_52();
}

}  // namespace lvlm::llava
