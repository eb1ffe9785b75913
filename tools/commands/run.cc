// `lvlm-probe run`: one image, one prompt, one report.
#include "commands.h"
#include "lvlm_probe/report.h"
#include "probe_flags.h"

namespace lvlm::cli {

void add_run(CLI::App& app, Action& action) {
  auto f = std::make_shared<ProbeFlags>();
  auto html = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>("report.json");
  auto features = std::make_shared<std::string>();
  auto tsne = std::make_shared<std::string>("stages");
  CLI::App* sub = app.add_subcommand("run", "probe one image and prompt; write the JSON report");
  add_input_dir_option(sub, "--model", f->session.model_dir, "Hugging Face model directory")->required();
  add_input_option(sub, "--image", f->request.image,
                   "image file (JPEG, PNG, BMP, GIF, PPM); required with --prompt, optional only with --input-ids");
  auto* prompt = sub->add_option("--prompt", f->request.prompt, "the question; put into --template");
  auto* ids = sub->add_option("--input-ids", f->input_ids, "explicit prompt ids, e.g. 1,2,3 (instead of --prompt)");
  prompt->excludes(ids);
  add_output_option(sub, "--dump-features", *features, "write every token's hidden states [L+1, hidden] as safetensors");
  add_output_option(sub, "--out", *out, "report path; - for stdout")->capture_default_str();
  add_output_option(sub, "--html", *html, "also write the HTML page with the figures (with --dump-features: and the t-SNE)");
  sub->add_option("--tsne", *tsne, "with --html and --dump-features, the t-SNE style: stages or paper")
      ->check(CLI::IsMember({"stages", "paper"}))
      ->capture_default_str();
  add_probe_flags(*sub, *f);
  sub->callback([&action, f, out, html, features, tsne] {
    action = [f, out, html, features, tsne] {
      if (f->request.prompt.empty() && f->input_ids.empty()) throw UsageError("run: give --prompt or --input-ids");
      if (!f->request.prompt.empty() && f->request.image.empty())
        throw UsageError("run: --image is required with --prompt (the template holds the image token)");
      f->request.dump_features = *features;
      finish_probe_flags(*f);
      ProbeSession session(f->session);
      ProbeResult result = session.run(f->request);
      const OrderedJson report = build_report(result);
      write_report(*out, report);
      if (!html->empty()) {
        RenderOptions page;
        // The features file is not in place before the command's outputs are committed together.
        const OutputSet* outputs = OutputSet::active();
        page.features = outputs ? outputs->readable(*features) : *features;
        page.tsne = parse_token_embedding_style(*tsne);
        write_html(*html, Json::parse(report.dump()), page);
      }
      print_summary(result, *out);
      return 0;
    };
  });
}

}  // namespace lvlm::cli
