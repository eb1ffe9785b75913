// `lvlm-probe preprocess`: the pixel tensor the model would see (its family's processor makes it),
// as safetensors, so users can diff our preprocessing against their Python stack.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/family.h"
#include "lvlm_probe/image.h"

namespace lvlm::cli {

void add_preprocess(CLI::App& app, Action& action) {
  struct Flags {
    std::string model, image, out = "pixels.safetensors";
    bool pad_square = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("preprocess", "write the preprocessed pixel_values (LLaVA: [1, 3, H, W]) as safetensors");
  add_input_dir_option(sub, "--model", f->model, "model directory (its preprocessor_config.json and config.json are used)")->required();
  add_input_option(sub, "--image", f->image, "image file")->required();
  add_output_option(sub, "--out", f->out, "output safetensors file; - for stdout")->capture_default_str();
  sub->add_flag("--pad-square", f->pad_square, "pad to a square with the mean colour first (original LLaVA)");
  sub->callback([&action, f] {
    action = [f] {
      const auto processor = family_of_model(f->model).processor(f->model);
      ImageOptions options;
      options.pad_square = f->pad_square;
      PreparedImage p = processor->prepare_image(decode_image(f->image), options, f->image);
      std::string_view bytes(reinterpret_cast<const char*>(p.pixels.data()), p.pixels.size() * sizeof(float));
      write_safetensors(f->out, {{"pixel_values", DType::F32, p.shape, bytes}},
                        {{"image", f->image}, {"pad_square", f->pad_square ? "true" : "false"}});
      const ImageGeometry& g = p.geometry;
      spdlog::info("{}: pixel_values {} ({}x{} input from {}x{}; {} image tokens)", f->out, shape_string(p.shape),
                   g.input_width, g.input_height, g.original_width, g.original_height, p.num_tokens);
      return 0;
    };
  });
}

}  // namespace lvlm::cli
