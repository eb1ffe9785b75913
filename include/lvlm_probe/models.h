// Vision-language models behind one interface, and the observer through which they expose every
// layer's residual stream. The model knows nothing of probing: it calls the observer with
// (tap name, layer, positions, tensor) and moves on.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/model_config.h"
#include "lvlm_probe/processor.h"

namespace lvlm {

// --- Hidden-state taps -----------------------------------------------------------------------
// Layers run 0..L (docs/report-schema.md): layer 0 is the embedding output (input of block 0), layer l the residual
// stream after block l-1 (0-based), before the final norm. Tap names follow TransformerLens.
std::string resid_tap_name(int layer);  // 0 -> "blocks.0.hook_resid_pre", l -> "blocks.{l-1}.hook_resid_post"
// Inverse of resid_tap_name; -1 for any other name.
int layer_of_resid_tap(const std::string& name);

class HiddenStateObserver {
 public:
  virtual ~HiddenStateObserver() = default;
  // Called once per forward pass over positions [first, first + count) before any layer runs.
  // Returns the absolute positions whose residual stream the observer wants (may be empty).
  virtual std::vector<int64_t> positions_wanted(int64_t first, int64_t count) = 0;
  // Called for layers 0..L in order. `hidden` is [positions.size(), hidden_size] in the compute
  // dtype on the model's device; it is only valid during the call (copy what you keep).
  virtual void on_residual(const std::string& tap, int layer, const std::vector<int64_t>& positions,
                           const at::Tensor& hidden) = 0;
  // Called by greedy decoding once the token of `step` is chosen (after the forward pass that
  // predicted it), so that per-token measurements can name the emitted token.
  virtual void on_token(int step, int token_id) { (void)step, (void)token_id; }
  // Called by greedy decoding after a forward pass: the output logits [vocab] of the predicting
  // position if the observer computed them itself, bit for bit as the model would (the logit lens
  // unembeds layer L anyway), so that decoding takes its argmax instead of running the LM head a
  // second time. Undefined when the observer has none.
  virtual at::Tensor output_logits() { return {}; }

  // Called by greedy decoding once the prompt is embedded, before the first forward pass: its
  // length in positions and the positions that hold image features (ascending).
  virtual void on_prompt(int64_t length, const std::vector<int64_t>& image_positions) { (void)length, (void)image_positions; }
  // Attention taps. When wants_attention(), every decoder block that runs calls on_attention with
  // its post-RoPE queries `queries` [heads, S, head_dim] of positions [first, first + S) and the
  // keys `keys` [kv_heads, T, head_dim] of positions [0, T) they attend to (the cache included;
  // query head h reads key head h / (heads / kv_heads); position p sees keys 0..p). Layer 1..L,
  // compute dtype, valid only during the call. The model's own numbers do not depend on it.
  virtual bool wants_attention() const { return false; }
  virtual void on_attention(int layer, int64_t first, const at::Tensor& queries, const at::Tensor& keys) {
    (void)layer, (void)first, (void)queries, (void)keys;
  }
};

// Per-sequence key/value cache, preallocated for `capacity` positions.
struct KVCache {
  std::vector<at::Tensor> keys, values;  // per block: [kv_heads, capacity, head_dim]
  int64_t length = 0;
  int64_t capacity = 0;
};

struct ForwardOptions {
  HiddenStateObserver* observer = nullptr;
  std::vector<bool> skip_block;  // size L (or empty): block i replaced by identity when true
};

// One image as the model takes it: a PreparedImage (the family's processor made it) as a tensor.
struct ImageInput {
  at::Tensor pixel_values;        // float32 CPU, the family's layout (LLaVA [1, 3, H, W]); undefined = no image
  std::vector<int64_t> grid_thw;  // Qwen2-VL's image_grid_thw; empty for LLaVA
  int64_t num_tokens = 0;         // image tokens it becomes; 0 = the model's fixed count

  ImageInput() = default;
  ImageInput(at::Tensor pixels) : pixel_values(std::move(pixels)) {}  // NOLINT: a bare pixel tensor is an image
  static ImageInput from(const PreparedImage& image);  // copies the pixels
  bool defined() const { return pixel_values.defined(); }
};

// The prompt after the image features are spliced in.
struct PromptEmbedding {
  at::Tensor embeddings;                    // [S, hidden] compute dtype
  std::vector<int64_t> image_positions;     // sequence slots holding image features
  // Rotary positions [P, S] int64 on the CPU, P = 1 (RoPE) or 3 (M-RoPE: temporal, height, width);
  // undefined = the slots 0..S-1 on one axis.
  at::Tensor position_ids;
  // The rotary position of the first generated token; answer token i sits at next_position + i on
  // every axis. S for LLaVA; for Qwen2-VL one past the largest prompt position, so decoding
  // positions differ from cache slots.
  int64_t next_position = 0;
};

class VisionLanguageModel {
 public:
  virtual ~VisionLanguageModel() = default;
  virtual const ModelInfo& info() const = 0;

  // The projected image features [image tokens, hidden] in the compute dtype. UsageError for
  // pixels of the wrong layout.
  virtual at::Tensor encode_image(const ImageInput& image) = 0;
  // Token embeddings with the image features (from encode_image) spliced where the prompt holds
  // the image's tokens, and the rotary positions of the sequence. `image` undefined: no image,
  // and the prompt must hold no image token. UsageError for a prompt that does not fit the image.
  virtual PromptEmbedding embed_prompt(const std::vector<int>& ids, const ImageInput& image,
                                       const at::Tensor& image_features) = 0;
  virtual at::Tensor embed_tokens(const std::vector<int>& ids) = 0;

  // Runs the decoder over `embeddings` [S, hidden] into cache slots [cache->length, +S) (or [0, S)
  // without a cache), at rotary positions `position_ids` [P, S] int64 (undefined = the slots).
  // Returns the last block's output [S, hidden] before the final norm.
  virtual at::Tensor forward(const at::Tensor& embeddings, const at::Tensor& position_ids, KVCache* cache,
                             const ForwardOptions& options) = 0;
  virtual KVCache new_cache(int64_t capacity) const = 0;

  // The pieces the logit lens needs: final norm and unembedding (LM head, tied or not).
  virtual at::Tensor final_norm(const at::Tensor& hidden) const = 0;
  virtual at::Tensor unembed(const at::Tensor& normed) const = 0;  // [N, hidden] -> [N, vocab]
  // True when unembed() of `rows` rows gives every row the bits it gets when unembedded alone
  // (the CPU kernel for few rows does; BLAS and cuBLAS choose kernels by shape).
  virtual bool unembed_rows_independent(int64_t rows) const { (void)rows; return false; }
};

// Opens a checkpoint directory with its family's loader; the family is chosen by config.json's
// `architectures` (family_of_model, include/lvlm_probe/family.h).
// InputError for missing/corrupt/unsupported checkpoints (every weight problem listed at once).
std::unique_ptr<VisionLanguageModel> load_model(const std::string& model_dir, const DeviceOptions& options);
// What to tell the user before a run whose bfloat16 products will be slow on this CPU (no AVX-512:
// libtorch's own kernels), with the faster choices; empty for any other run. Touches no libtorch
// state, so `bench` can call it before it forks its measuring processes.
std::string slow_products_warning(const DeviceOptions& options);

// --- Greedy decoding -------------------------------------------------------------------------
struct GenerateOptions {
  int max_new_tokens = 32;
  bool stop_at_eos = true;
  bool use_cache = true;          // false: recompute the whole sequence each step (for tests)
  std::vector<int> skip_layers;   // 1-based decoder layers replaced by identity
  HiddenStateObserver* observer = nullptr;
};

struct GenerateResult {
  std::vector<int> token_ids;
  std::string stop_reason;        // "eos" | "max_new_tokens"
  int64_t prompt_length = 0;      // positions after image expansion
  std::vector<int64_t> image_positions;
  double vision_seconds = 0, prefill_seconds = 0, decode_seconds = 0;
};

// UsageError for options no input can satisfy (no new tokens, a skipped layer outside 1..L);
// generate_greedy() checks them too.
void check_generate_options(const GenerateOptions& options, const ModelInfo& info);

// Greedy decoding as transformers' generate(do_sample=False, num_beams=1). `image` may be
// undefined when the prompt holds no image token.
GenerateResult generate_greedy(VisionLanguageModel& model, const std::vector<int>& prompt_ids,
                               const ImageInput& image, const GenerateOptions& options);

// Sizes the CPU thread pools so that one pool of `threads` works at a time: ATen/OpenMP gets
// them, OpenBLAS and the inter-op pool get 1. 0 = every core of the affinity mask.
void configure_threads(int threads);

}  // namespace lvlm
