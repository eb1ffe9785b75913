// Qwen2-VL's processor: transformers' Qwen2VLImageProcessor (the number of image tokens follows
// the image's size), the byte-level BPE tokenizer of tokenizer.json, and the checkpoint's chat
// template for one user turn with the image before the question, whose image pad is expanded to
// one token per merged patch here (as Qwen2VLProcessor does).
#include <optional>

#include "../../image/qwen2_vl_image.h"
#include "../../text/qwen2_vl_prompt.h"
#include "config.h"
#include "family.h"
#include "lvlm_probe/common.h"

namespace lvlm::qwen2_vl {
namespace {

constexpr const char* kChatTemplate = "chat";  // the checkpoint's chat template (the only one)

// The processor's patch geometry must be the vision tower's, or the pixel rows would not fit it.
Qwen2VLImageConfig load_image_config(const std::string& dir, const VisionConfig& v) {
  const std::string path = join_path(dir, "preprocessor_config.json");
  Qwen2VLImageConfig c;
  if (file_exists(path)) c = load_qwen2_vl_image_config(path);
  if (c.patch_size != v.patch_size || c.temporal_patch_size != v.temporal_patch_size || c.merge_size != v.spatial_merge_size)
    throw InputError(path, "patch_size " + std::to_string(c.patch_size) + ", temporal_patch_size " +
                               std::to_string(c.temporal_patch_size) + " and merge_size " + std::to_string(c.merge_size) +
                               " differ from config.json's vision_config (" + std::to_string(v.patch_size) + ", " +
                               std::to_string(v.temporal_patch_size) + ", " + std::to_string(v.spatial_merge_size) + ")");
  return c;
}

class QwenProcessor final : public Processor {
 public:
  explicit QwenProcessor(const std::string& model_dir) : dir_(model_dir), config_(load_config(model_dir)) {
    image_ = load_image_config(model_dir, config_.vision);
    if (file_exists(join_path(model_dir, "tokenizer.json"))) tokenizer_ = BpeTokenizer::load(model_dir);
    const std::optional<std::string> chat = load_chat_template(model_dir);
    // Qwen's template writes "You are a helpful assistant." when the conversation has no system turn.
    system_ = chat ? default_system_prompt(*chat) : std::optional<std::string>("You are a helpful assistant.");
  }

  PreparedImage prepare_image(const ImageU8& image, const ImageOptions& options, const std::string& origin) const override {
    if (options.pad_square)
      throw UsageError("--pad-square is LLaVA's expand2square; Qwen2-VL takes the image at its own aspect ratio");
    const Qwen2VLPixels p = preprocess_qwen2_vl(image, image_, origin);
    PreparedImage out;
    out.pixels = p.pixels;
    out.shape = {p.rows, p.cols};
    out.grid_thw = {p.grid_thw[0], p.grid_thw[1], p.grid_thw[2]};
    out.num_tokens = p.num_image_tokens(image_.merge_size);
    ImageGeometry& g = out.geometry;  // a resize only: no crop, no padding
    g.original_width = image.width, g.original_height = image.height;
    g.input_width = p.resized_width, g.input_height = p.resized_height;
    g.scale_x = double(image.width) / p.resized_width, g.scale_y = double(image.height) / p.resized_height;
    g.grid_rows = static_cast<int>(p.grid_thw[1] / image_.merge_size);
    g.grid_cols = static_cast<int>(p.grid_thw[2] / image_.merge_size);
    return out;
  }

  std::string default_template() const override { return kChatTemplate; }
  void check_template(const std::string& name) const override {
    if (name != kChatTemplate)
      throw UsageError("--template: Qwen2-VL prompts go through the checkpoint's chat template ('" +
                       std::string(kChatTemplate) + "'), not '" + name + "'");
  }
  std::string prompt_text(const std::string& name, const std::string& question) const override {
    check_template(name);
    return qwen2_vl_prompt_text(question, /*with_image=*/true, system_);
  }
  std::vector<int> prompt_ids(const std::string& name, const std::string& question,
                              const PreparedImage* image) const override {
    check_template(name);
    require_tokenizer();
    return qwen2_vl_prompt_ids(*tokenizer_, question, image ? image->num_tokens : 0, system_);
  }
  const TextTokenizer* tokenizer() const override { return tokenizer_ ? &*tokenizer_ : nullptr; }
  void require_tokenizer() const override {
    if (!tokenizer_) throw InputError(join_path(dir_, "tokenizer.json"), "missing; give --input-ids instead of --prompt");
  }

 private:
  std::string dir_;
  Config config_;
  Qwen2VLImageConfig image_;
  std::optional<BpeTokenizer> tokenizer_;
  std::optional<std::string> system_;
};

}  // namespace

std::unique_ptr<Processor> make_processor(const std::string& model_dir) {
  return std::make_unique<QwenProcessor>(model_dir);
}

}  // namespace lvlm::qwen2_vl
