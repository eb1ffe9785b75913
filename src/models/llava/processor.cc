// LLaVA's processor: transformers' CLIPImageProcessor (with the original repo's expand2square on
// request), the SentencePiece tokenizer, and LLaVA's prompt templates, where one image token stands
// for the whole image (the model expands it).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "config.h"
#include "family.h"
#include "lvlm_probe/common.h"

namespace lvlm::llava {
namespace {

// Every image must reach the vision tower as image_size x image_size: through the center crop, or
// without one through a resize to exactly that size.
void check_output_size(const ClipPreprocessConfig& c, const std::string& path, int image_size) {
  const std::string n = std::to_string(image_size), tower = "the vision tower's image_size " + n + "x" + n;
  auto size = [](int h, int w) { return std::to_string(h) + "x" + std::to_string(w); };
  if (c.do_center_crop) {
    if (c.crop_height != image_size || c.crop_width != image_size)
      throw InputError(path, "crop size " + size(c.crop_height, c.crop_width) + " does not match " + tower);
    return;
  }
  if (!c.do_resize)
    throw InputError(path, "do_resize and do_center_crop are both false: images would reach the vision tower at "
                           "their own size, not " + tower);
  if (c.shortest_edge > 0)
    throw InputError(path, "do_center_crop is false and size is a shortest edge (" + std::to_string(c.shortest_edge) +
                               "): only square images would come out " + n + "x" + n +
                               " (set do_center_crop, or size {\"height\", \"width\"})");
  if (c.resize_height != image_size || c.resize_width != image_size)
    throw InputError(path, "do_center_crop is false and size " + size(c.resize_height, c.resize_width) +
                               " does not match " + tower);
}

// transformers' CLIPImageProcessor settings; a checkpoint without preprocessor_config.json gets
// CLIP's processing at the vision tower's own resolution.
ClipPreprocessConfig load_preprocessing(const std::string& dir, int image_size) {
  const std::string path = join_path(dir, "preprocessor_config.json");
  ClipPreprocessConfig c;
  if (file_exists(path)) {
    c = load_preprocessor_config(path);
  } else {
    spdlog::warn("{}: missing; using CLIP preprocessing at {} px", path, image_size);
    c.shortest_edge = c.crop_height = c.crop_width = image_size;
  }
  check_output_size(c, path, image_size);
  return c;
}

// The input pixel -> original pixel map of preprocess_clip: expand2square's padding, the resize,
// then the centre crop (negative offsets where the crop pads).
ImageGeometry clip_geometry(const ImageU8& image, const PreprocessResult& p, bool pad_square) {
  ImageGeometry g;
  g.original_width = image.width, g.original_height = image.height;
  g.input_width = p.width, g.input_height = p.height;
  const int side = std::max(image.width, image.height);
  const int padded_width = pad_square ? side : image.width, padded_height = pad_square ? side : image.height;
  const int pad_left = (padded_width - image.width) / 2, pad_top = (padded_height - image.height) / 2;
  g.scale_x = double(padded_width) / p.resized_width;
  g.scale_y = double(padded_height) / p.resized_height;
  g.offset_x = p.crop_left * g.scale_x - pad_left;
  g.offset_y = p.crop_top * g.scale_y - pad_top;
  return g;
}

class LlavaProcessor final : public Processor {
 public:
  explicit LlavaProcessor(const std::string& model_dir) : dir_(model_dir), config_(load_llava_config(model_dir)) {
    if (file_exists(join_path(model_dir, "tokenizer.model"))) tokenizer_ = Tokenizer::load(model_dir);
    preprocess_ = load_preprocessing(model_dir, config_.vision.image_size);
  }

  PreparedImage prepare_image(const ImageU8& image, const ImageOptions& options,
                              const std::string& origin) const override {
    const PreprocessResult p = preprocess_clip(image, preprocess_, options.pad_square, origin);
    PreparedImage out;
    out.pixels = p.pixels;
    out.shape = {1, 3, p.height, p.width};
    out.num_tokens = config_.num_image_features();
    out.geometry = clip_geometry(image, p, options.pad_square);
    out.geometry.grid_rows = out.geometry.grid_cols = config_.vision.image_size / config_.vision.patch_size;
    out.geometry.leading_cls = config_.vision_feature_select_strategy == "full";
    return out;
  }

  std::string default_template() const override { return template_name(PromptTemplate::llava_v1); }
  void check_template(const std::string& name) const override { parse_template(name); }
  std::string prompt_text(const std::string& name, const std::string& question) const override {
    return apply_template(parse_template(name), question);
  }
  std::vector<int> prompt_ids(const std::string& name, const std::string& question,
                              const PreparedImage* image) const override {
    (void)image;  // one image token, whatever the image: the model expands it
    require_tokenizer();
    return build_prompt_ids(*tokenizer_, parse_template(name), question, config_.image_token_index);
  }
  const TextTokenizer* tokenizer() const override { return tokenizer_ ? &*tokenizer_ : nullptr; }
  void require_tokenizer() const override {
    if (!tokenizer_)
      throw InputError(join_path(dir_, "tokenizer.model"), "missing; give --input-ids instead of --prompt");
  }

 private:
  std::string dir_;
  LlavaConfig config_;
  std::optional<Tokenizer> tokenizer_;
  ClipPreprocessConfig preprocess_;
};

}  // namespace

std::unique_ptr<Processor> make_processor(const std::string& model_dir) {
  return std::make_unique<LlavaProcessor>(model_dir);
}

}  // namespace lvlm::llava
