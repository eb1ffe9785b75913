// Qwen2-VL prompts: chat template text, expanded ids, get_rope_index (see qwen2_vl_prompt.h).
#include "qwen2_vl_prompt.h"

#include <algorithm>
#include <filesystem>

#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"

namespace lvlm {
namespace {

const char* const kImagePad = "<|image_pad|>";
const char* const kVideoPad = "<|video_pad|>";

std::optional<std::string> template_in(const Json& j, const std::string& origin) {
  auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array())
    for (const Json& entry : *it)
      if (entry.is_object() && entry.contains("name") && entry["name"] == "default" && entry.contains("template") &&
          entry["template"].is_string())
        return entry["template"].get<std::string>();
  throw InputError(origin, "key 'chat_template': expected a string or a list holding a \"default\" template");
}

}  // namespace

std::optional<std::string> load_chat_template(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const std::string jinja = model_dir + "/chat_template.jinja", json = model_dir + "/chat_template.json",
                    config = model_dir + "/tokenizer_config.json";
  if (fs::exists(jinja)) return read_file(jinja, JsonLimits{}.max_bytes);
  if (fs::exists(json))
    if (auto t = template_in(read_json_file(json), json)) return t;
  if (fs::exists(config)) return template_in(read_json_file(config), config);
  return std::nullopt;
}

std::optional<std::string> default_system_prompt(const std::string& chat_template) {
  const std::string open = "<|im_start|>system\n";
  const size_t start = chat_template.find(open);
  if (start == std::string::npos) return std::nullopt;
  const size_t text = start + open.size(), end = chat_template.find("<|im_end|>", text);
  if (end == std::string::npos) return std::nullopt;
  std::string system = chat_template.substr(text, end - text);
  if (system.find("{{") != std::string::npos || system.find("{%") != std::string::npos) return std::nullopt;
  return system;
}

std::string qwen2_vl_prompt_text(const std::string& question, bool with_image,
                                 const std::optional<std::string>& system_prompt) {
  std::string text;
  if (system_prompt) text += "<|im_start|>system\n" + *system_prompt + "<|im_end|>\n";
  text += "<|im_start|>user\n";
  if (with_image) text += std::string("<|vision_start|>") + kImagePad + "<|vision_end|>";
  return text + question + "<|im_end|>\n<|im_start|>assistant\n";
}

std::vector<int> qwen2_vl_prompt_ids(const BpeTokenizer& tok, const std::string& question, int64_t image_tokens,
                                     const std::optional<std::string>& system_prompt) {
  for (const char* pad : {kImagePad, kVideoPad})
    if (question.find(pad) != std::string::npos)
      throw UsageError(std::string("the question holds ") + pad + ", which Qwen2-VL's processor would take for another image");
  const std::vector<int> ids = tok.encode(qwen2_vl_prompt_text(question, image_tokens > 0, system_prompt), true);
  if (image_tokens <= 0) return ids;
  const auto pad = tok.added_token_id(kImagePad);
  if (!pad) throw InputError("tokenizer.json", std::string("has no ") + kImagePad + " token");
  std::vector<int> out;
  out.reserve(ids.size() + static_cast<size_t>(image_tokens));
  for (int id : ids)
    if (id == *pad) out.insert(out.end(), static_cast<size_t>(image_tokens), id);
    else out.push_back(id);
  return out;
}

MropePositions qwen2_vl_rope_index(const std::vector<int>& ids, int image_token_id, int vision_start_token_id,
                                   const std::array<int64_t, 3>& grid_thw, int merge_size) {
  MropePositions p;
  const int64_t length = static_cast<int64_t>(ids.size());
  auto add_text = [&](int64_t from, int64_t count) {
    for (int64_t i = 0; i < count; ++i)
      for (auto& axis : p.axes) axis.push_back(from + i);
  };
  const auto first = std::find(ids.begin(), ids.end(), image_token_id);
  if (first == ids.end()) {
    add_text(0, length);
    return p;
  }
  const int64_t start = first - ids.begin(), rows = grid_thw[1] / merge_size, cols = grid_thw[2] / merge_size;
  const int64_t count = grid_thw[0] * rows * cols;
  const int64_t run = std::find_if(first, ids.end(), [&](int id) { return id != image_token_id; }) - first;
  if (start == 0 || ids[static_cast<size_t>(start - 1)] != vision_start_token_id || run != count ||
      std::count(ids.begin(), ids.end(), image_token_id) != count)
    throw UsageError("the prompt's image tokens are not one run of " + std::to_string(count) +
                     " after the vision start token, as the image needs");
  add_text(0, start);
  for (int64_t t = 0; t < grid_thw[0]; ++t)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        p.axes[0].push_back(start + t), p.axes[1].push_back(start + r), p.axes[2].push_back(start + c);
      }
  const int64_t next = start + std::max({grid_thw[0], rows, cols});  // largest position so far + 1
  add_text(next, length - start - count);
  p.delta = next + (length - start - count) - length;
  return p;
}

}  // namespace lvlm
