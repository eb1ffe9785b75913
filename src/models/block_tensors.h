// Tensor names and shapes of the shared building blocks, written once: the loaders (decoder.cc,
// clip_vision.cc) fetch these names and make-model writes them (a family's plan_checkpoint).
// Names are transformers' module paths under a prefix the family's name table gives.
// Torch-free.
#pragma once

#include <string>
#include <vector>

#include "block_configs.h"
#include "lvlm_probe/checkpoint.h"

namespace lvlm {

// One decoder layer (LlamaDecoderLayer, Qwen2DecoderLayer): module prefixes, without ".weight".
struct DecoderLayerNames {
  std::string input_norm, post_attention_norm, q, k, v, o, gate, up, down;
};
std::string decoder_layer_prefix(const std::string& prefix, int layer);       // prefix + "layers.{i}."
DecoderLayerNames decoder_layer_names(const std::string& prefix, int layer);
std::string decoder_embedding_name(const std::string& prefix);                // prefix + "embed_tokens.weight"
std::string decoder_norm_name(const std::string& prefix);                     // prefix + "norm" (module)

// CLIP's embeddings (CLIPVisionEmbeddings) and pre-layernorm: full tensor names, the norm a module.
struct ClipEmbeddingNames {
  std::string class_embedding, patch_embedding, position_embedding, pre_norm;
};
ClipEmbeddingNames clip_embedding_names(const std::string& prefix);

// One CLIP encoder layer (CLIPEncoderLayer).
struct ClipLayerNames {
  std::string norm1, norm2, q, k, v, out, fc1, fc2;
};
std::string clip_layers_prefix(const std::string& prefix);                    // prefix + "encoder.layers."
std::string clip_layer_prefix(const std::string& prefix, int layer);          // ... + "{i}."
ClipLayerNames clip_layer_names(const std::string& prefix, int layer);
std::string clip_post_norm_name(const std::string& prefix);                   // prefix + "post_layernorm" (module)

// Every tensor of the block in state_dict order, with make-model's initialisation (matrices and
// embeddings normal, norms ones, biases zeros). The decoder's list has no LM head; CLIP's holds
// all config.num_hidden_layers layers and the post-layernorm, as a checkpoint stores them.
std::vector<TensorSpec> decoder_tensors(const TextConfig& config, const std::string& prefix);
std::vector<TensorSpec> clip_tensors(const VisionConfig& config, const std::string& prefix);

}  // namespace lvlm
