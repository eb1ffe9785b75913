// `lvlm-probe analyze`: stage detection again on an existing report, without the model.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/report.h"

namespace lvlm::cli {
namespace {

struct AnalyzeFlags {
  std::string input, out, html, stages, stage_config, final_norm_step;
  int critical_layer = 0;
};

// The report's own stage options, with the flags given on top.
StageOptions options_for(const AnalyzeFlags& f, const Json& report) {
  StageOptions o = stage_options_of_report(report);
  if (!f.stages.empty() || f.critical_layer || !f.stage_config.empty()) {
    const std::string method = !f.stages.empty() ? f.stages : "fixed";
    const bool hf = o.final_norm_step, include = o.search_final_norm_step;
    o = stage_options_from_flags(method, f.critical_layer, f.stage_config);
    o.final_norm_step = hf, o.search_final_norm_step = include;
    if (o.method == StageOptions::Method::fixed && !o.critical_layer && !o.config) {
      const Json& model = report["model"];
      o.config = find_stage_config(shipped_path("configs"), model.value("family", ""),
                                   model.value("num_layers", 0), model.value("hidden_size", 0));
      if (!o.config) throw UsageError("--stages fixed: give --critical-layer or --stage-config; configs/ has no file "
                                      "for this report's model");
    }
  }
  if (!f.final_norm_step.empty()) o.search_final_norm_step = f.final_norm_step == "include";
  return o;
}

}  // namespace

void add_analyze(CLI::App& app, Action& action) {
  auto f = std::make_shared<AnalyzeFlags>();
  CLI::App* sub = app.add_subcommand(
      "analyze", "re-run stage detection on a report's stored divergences (no model needed); write a new report");
  add_input_option(sub, "report", f->input, "report.json written by run, demo or batch", "the report")->required();
  add_output_option(sub, "--out", f->out, "the new report; - for stdout")->required();
  add_output_option(sub, "--html", f->html, "also write the HTML page");
  sub->add_option("--stages", f->stages, "auto or fixed (default: as the report was analysed)")
      ->check(CLI::IsMember({"auto", "fixed"}));
  sub->add_option("--critical-layer", f->critical_layer, "critical layer for --stages fixed");
  add_input_option(sub, "--stage-config", f->stage_config, "per-model stage file for --stages fixed");
  sub->add_option("--final-norm-step", f->final_norm_step,
                  "lens hf only: exclude (default) or include layer L, where the final norm is applied, in the "
                  "mutation search")
      ->check(CLI::IsMember({"exclude", "include"}));
  sub->callback([&action, f] {
    action = [f] {
      const Json report = read_report(f->input);
      const OrderedJson ordered = OrderedJson::parse(read_file(f->input));  // keeps the key order
      const OrderedJson out = reanalyze_report(ordered, options_for(*f, report), f->input);
      write_report(f->out, out);
      if (!f->html.empty()) write_html(f->html, Json::parse(out.dump()));
      const Json& s = out["stages"];
      spdlog::info("critical layer {} (confidence {:.2f}), mutation layer {} (confidence {:.2f})",
                   s["critical_layer"].dump(), s["critical_confidence"].get<double>(), s["mutation_layer"].dump(),
                   s["mutation_confidence"].get<double>());
      log_written("report", f->out);
      return 0;
    };
  });
}

}  // namespace lvlm::cli
