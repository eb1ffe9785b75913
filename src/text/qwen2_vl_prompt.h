// Prompts for Qwen2-VL and Qwen2.5-VL: the chat template for one user turn (one image, then the
// question) with the generation prompt, the ids with the image pad repeated once per image token
// (as Qwen2VLProcessor expands it), and the M-RoPE position ids transformers' get_rope_index gives
// them. Torch-free; positions are plain integers.
//
// References: the chat_template of Qwen/Qwen2-VL-2B-Instruct (tokenizer_config.json),
// transformers 4.57 processing_qwen2_vl.py and Qwen2VLModel.get_rope_index. Test oracle:
// tests/data/tiny-qwen2-vl/reference.json, tiny-qwen2.5-vl/reference.json.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpe_tokenizer.h"

namespace lvlm {

// The checkpoint's chat template: chat_template.jinja, else chat_template.json's "chat_template",
// else tokenizer_config.json's (a string, or the entry named "default" of a list), as transformers
// 4.57 prefers them; nullopt when there is none. InputError naming a malformed file.
std::optional<std::string> load_chat_template(const std::string& model_dir);

// The system message the template writes when the conversation has none: the literal text between
// "<|im_start|>system\n" and "<|im_end|>" (Qwen2-VL's "You are a helpful assistant."); nullopt
// when the template writes no such literal (then the prompt has no system turn).
std::optional<std::string> default_system_prompt(const std::string& chat_template);

// "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|>
// <|vision_end|>{question}<|im_end|>\n<|im_start|>assistant\n", the vision part only with an image.
std::string qwen2_vl_prompt_text(const std::string& question, bool with_image,
                                 const std::optional<std::string>& system_prompt);

// The prompt's ids with the one <|image_pad|> repeated image_tokens times (0: no image).
// UsageError when the question itself holds an image or video pad (transformers would read it as
// a second image).
std::vector<int> qwen2_vl_prompt_ids(const BpeTokenizer& tok, const std::string& question, int64_t image_tokens,
                                     const std::optional<std::string>& system_prompt);

struct MropePositions {
  std::array<std::vector<int64_t>, 3> axes;  // temporal, height, width position of every id
  int64_t delta = 0;  // max position + 1 - length: token i after the prompt is at length + i + delta
};

// get_rope_index for a prompt with at most one still image (grid {1, h, w} in patches): text
// counts on from the largest position before it; the image's tokens get (0, row, column) of the
// merged grid offset by the text before. Without image tokens: 0..S-1 on all axes, delta 0.
// UsageError when the image tokens are not one run of t*h*w/merge^2 after a vision start.
MropePositions qwen2_vl_rope_index(const std::vector<int>& ids, int image_token_id, int vision_start_token_id,
                                   const std::array<int64_t, 3>& grid_thw, int merge_size);

}  // namespace lvlm
