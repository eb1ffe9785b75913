// Greedy decoding, the loop transformers' generate(do_sample=False, num_beams=1) runs: prefill
// the prompt, take the argmax of the last position's logits, feed it back, stop at EOS or after
// max_new_tokens.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // NoGradGuard: not reached through ATen.h in libtorch >= 2.14

#include <algorithm>

#include "lvlm_probe/common.h"
#include "lvlm_probe/device_path.h"
#include "lvlm_probe/models.h"
#include "lvlm_probe/stopwatch.h"

namespace lvlm {
namespace {

int argmax_last(VisionLanguageModel& model, const at::Tensor& hidden, HiddenStateObserver* observer) {
  if (observer) {
    at::Tensor logits = observer->output_logits();
    if (logits.defined()) return static_cast<int>(host_int(logits.argmax(-1), SyncSite::decode));
  }
  at::Tensor last = hidden.narrow(0, hidden.size(0) - 1, 1);
  at::Tensor logits = model.unembed(model.final_norm(last));
  // A NaN would win the argmax (torch ranks it highest) and decoding would go on with garbage; the
  // check rides on the same host read. (The lens reads finite hidden states, so a NaN or Inf made by
  // the final norm or the head alone shows up here first when no lens applies the final norm.)
  const at::Tensor best = logits.argmax(-1);  // first maximum, as torch.argmax
  const at::Tensor checked = at::where(at::isfinite(logits).all(), best, at::full_like(best, -1));
  const int64_t token = host_int(checked, SyncSite::decode);
  if (token < 0) {
    const ModelInfo& info = model.info();
    throw InputError(info.path, "the output logits are not finite (NaN or Inf); from finite hidden states they are "
                                "made by " + info.head_weights + ": a NaN or Inf weight there");
  }
  return static_cast<int>(token);
}

std::vector<bool> skip_mask(const std::vector<int>& layers, int num_layers) {
  std::vector<bool> mask(static_cast<size_t>(num_layers), false);
  for (int l : layers) {
    if (l < 1 || l > num_layers)
      throw UsageError("--skip-layers: layer " + std::to_string(l) + " is outside 1.." + std::to_string(num_layers));
    mask[static_cast<size_t>(l - 1)] = true;
  }
  return mask;
}

// Rotary positions of `count` answer tokens from `first` on every axis of `prompt` ([P, count]);
// undefined when the prompt's positions are the cache slots.
at::Tensor answer_positions(const PromptEmbedding& prompt, int64_t first, int64_t count) {
  if (!prompt.position_ids.defined()) return {};
  at::Tensor row = at::arange(first, first + count, at::TensorOptions().dtype(at::kLong));
  return row.unsqueeze(0).expand({prompt.position_ids.size(0), count}).contiguous();
}

}  // namespace

ImageInput ImageInput::from(const PreparedImage& image) {
  ImageInput input;
  input.pixel_values = at::from_blob(const_cast<float*>(image.pixels.data()), image.shape, at::kFloat).clone();
  input.grid_thw = image.grid_thw;
  input.num_tokens = image.num_tokens;
  return input;
}

void check_generate_options(const GenerateOptions& options, const ModelInfo& info) {
  if (options.max_new_tokens < 1) throw UsageError("--max-new-tokens must be at least 1");
  skip_mask(options.skip_layers, info.num_layers);
}

GenerateResult generate_greedy(VisionLanguageModel& model, const std::vector<int>& prompt_ids,
                               const ImageInput& image, const GenerateOptions& options) {
  const ModelInfo& info = model.info();
  check_generate_options(options, info);
  at::NoGradGuard no_grad;
  GenerateResult result;
  Stopwatch clock;
  at::Tensor features;
  if (image.defined()) features = model.encode_image(image);
  PromptEmbedding prompt = model.embed_prompt(prompt_ids, image, features);
  result.vision_seconds = clock.seconds();
  result.prompt_length = prompt.embeddings.size(0);
  result.image_positions = prompt.image_positions;
  if (options.observer) options.observer->on_prompt(result.prompt_length, result.image_positions);
  const int64_t capacity = result.prompt_length + options.max_new_tokens;
  if (capacity > info.max_positions)
    throw UsageError("prompt of " + std::to_string(result.prompt_length) + " positions plus " +
                     std::to_string(options.max_new_tokens) + " new tokens exceeds the model's " +
                     std::to_string(info.max_positions) + " positions (max_position_embeddings)");

  ForwardOptions forward;
  forward.observer = options.observer;
  forward.skip_block = skip_mask(options.skip_layers, info.num_layers);
  KVCache cache;
  if (options.use_cache) cache = model.new_cache(capacity);
  KVCache* kv = options.use_cache ? &cache : nullptr;

  clock.restart();
  at::Tensor sequence = prompt.embeddings, positions = prompt.position_ids;  // grow only without a cache
  int next = argmax_last(model, model.forward(sequence, positions, kv, forward), options.observer);
  result.prefill_seconds = clock.seconds();
  clock.restart();
  result.stop_reason = "max_new_tokens";
  for (;;) {
    if (options.observer) options.observer->on_token(static_cast<int>(result.token_ids.size()), next);
    result.token_ids.push_back(next);
    const bool eos = std::find(info.eos_token_ids.begin(), info.eos_token_ids.end(), next) != info.eos_token_ids.end();
    if (options.stop_at_eos && eos) {
      result.stop_reason = "eos";
      break;
    }
    if (static_cast<int>(result.token_ids.size()) >= options.max_new_tokens) break;
    at::Tensor step = model.embed_tokens({next});
    const int64_t fed = static_cast<int64_t>(result.token_ids.size()) - 1;  // answer token being fed
    at::Tensor step_positions = answer_positions(prompt, prompt.next_position + fed, 1);
    if (kv) {
      next = argmax_last(model, model.forward(step, step_positions, kv, forward), options.observer);
    } else {
      sequence = at::cat({sequence, step}, 0);
      if (positions.defined()) positions = at::cat({positions, step_positions}, 1);
      next = argmax_last(model, model.forward(sequence, positions, nullptr, forward), options.observer);
    }
  }
  result.decode_seconds = clock.seconds();
  return result;
}

}  // namespace lvlm
