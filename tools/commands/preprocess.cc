// `lvlm-probe preprocess`: the pixel tensor the model would see, as safetensors, so users can diff
// our preprocessing against their Python stack.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/image.h"

namespace lvlm::cli {

void add_preprocess(CLI::App& app, Action& action) {
  struct Flags {
    std::string model, image, out = "pixels.safetensors";
    bool pad_square = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("preprocess", "write the preprocessed pixel_values [1, 3, H, W] as safetensors");
  add_input_dir_option(sub, "--model", f->model, "model directory (its preprocessor_config.json is used)")->required();
  add_input_option(sub, "--image", f->image, "image file")->required();
  add_output_option(sub, "--out", f->out, "output safetensors file; - for stdout")->capture_default_str();
  sub->add_flag("--pad-square", f->pad_square, "pad to a square with the mean colour first (original LLaVA)");
  sub->callback([&action, f] {
    action = [f] {
      ClipPreprocessConfig config = load_preprocessor_config(join_path(f->model, "preprocessor_config.json"));
      PreprocessResult p = preprocess_clip(decode_image(f->image), config, f->pad_square, f->image);
      std::string_view bytes(reinterpret_cast<const char*>(p.pixels.data()), p.pixels.size() * sizeof(float));
      write_safetensors(f->out, {{"pixel_values", DType::F32, {1, 3, p.height, p.width}, bytes}},
                        {{"image", f->image}, {"pad_square", f->pad_square ? "true" : "false"}});
      spdlog::info("{}: pixel_values [1, 3, {}, {}] (resized {}x{}, crop at top {} left {})", f->out, p.height,
                   p.width, p.resized_width, p.resized_height, p.crop_top, p.crop_left);
      return 0;
    };
  });
}

}  // namespace lvlm::cli
