// `lvlm-probe demo`: the whole probe on the tiny model and image shipped with lvlm-probe, so a
// new user sees a report (and the answer) without downloading anything.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/report.h"
#include "probe_flags.h"

namespace lvlm::cli {

void add_demo(CLI::App& app, Action& action) {
  auto f = std::make_shared<ProbeFlags>();
  auto html = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>("demo-report.json");
  CLI::App* sub = app.add_subcommand("demo", "probe the shipped tiny LLaVA model on its test image");
  add_output_option(sub, "--out", *out, "report path; - for stdout")->capture_default_str();
  add_output_option(sub, "--html", *html, "also write the HTML page with the figures");
  f->session.model_dir = shipped_path("tests/data/tiny-llava");
  f->request.image = shipped_path("tests/data/tiny-llava/test.png");
  declare_input(sub, &f->session.model_dir, true);
  declare_input(sub, &f->request.image, false);
  f->request.prompt = "What is shown in this image?";
  f->request.max_new_tokens = 8;
  sub->add_option("--prompt", f->request.prompt, "the question")->capture_default_str();
  add_probe_flags(*sub, *f);
  sub->callback([&action, f, out, html] {
    action = [f, out, html] {
      finish_probe_flags(*f);
      spdlog::info("demo model: {} (random weights: the answer is gibberish, the layers are real)",
                   f->session.model_dir);
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
