// `lvlm-probe demo`: the whole probe on nano-llava, the small trained LLaVA shipped in the source
// tree (tests/data/nano-llava, model card in its README.md), and a scene image beside it, so a new
// user sees a right answer and real stages without downloading anything.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/report.h"
#include "probe_flags.h"

namespace lvlm::cli {
namespace {

const char kDemoModel[] = "tests/data/nano-llava";

// The shipped model's folder; an installed binary without the source tree gets told where it looks.
std::string demo_model_dir() {
  const std::string dir = shipped_path(kDemoModel);
  if (!is_directory(dir) || !file_exists(join_path(dir, "config.json")))
    throw InputError(dir, std::string("the demo model is not there: it ships in the source tree under ") + kDemoModel +
                              "; set LVLM_PROBE_DATA to that source tree (or use `lvlm-probe run --model DIR`)");
  return dir;
}

}  // namespace

void add_demo(CLI::App& app, Action& action) {
  auto f = std::make_shared<ProbeFlags>();
  auto html = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>("demo-report.json");
  CLI::App* sub = app.add_subcommand("demo", "probe the shipped nano-llava model (trained on drawn shapes) on a scene");
  add_output_option(sub, "--out", *out, "report path; - for stdout")->capture_default_str();
  add_output_option(sub, "--html", *html, "also write the HTML page with the figures");
  f->session.model_dir = shipped_path(kDemoModel);
  declare_input(sub, &f->session.model_dir, true);
  f->request.prompt = "What is in the image?";
  f->request.max_new_tokens = 12;
  sub->add_option("--prompt", f->request.prompt,
                  "the question; nano-llava knows \"What is in the image?\", \"What color is the circle?\" "
                  "(square, triangle) and \"How many shapes are there?\"")
      ->capture_default_str();
  add_input_option(sub, "--image", f->request.image,
                   "your own scene: 1 or 2 circles, squares or triangles in red, green, blue or yellow on a light "
                   "background (default: scene.png beside the model)");
  add_probe_flags(*sub, *f);
  sub->callback([&action, f, out, html] {
    action = [f, out, html] {
      f->session.model_dir = demo_model_dir();
      if (f->request.image.empty()) f->request.image = join_path(f->session.model_dir, "scene.png");
      finish_probe_flags(*f);
      spdlog::info("demo model: {} (nano-llava, see its README.md), image: {}", f->session.model_dir,
                   f->request.image);
      ProbeSession session(f->session);
      ProbeResult result = session.run(f->request);
      const OrderedJson report = build_report(result);
      write_report(*out, report);
      if (!html->empty()) write_html(*html, Json::parse(report.dump()));
      print_summary(result, *out);
      return 0;
    };
  });
}

}  // namespace lvlm::cli
