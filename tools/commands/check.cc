// `lvlm-probe check`: the regression gate for model teams' CI. Exit 2 when the reports are not
// comparable, 1 when a confident stage boundary moved by more than the tolerance, appeared or
// disappeared, or the output tokens changed (docs/stages.md, "Comparing reports").
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "lvlm_probe/report.h"

namespace lvlm::cli {

void add_check(CLI::App& app, Action& action) {
  struct Flags {
    std::string baseline, candidate;
    CheckOptions options;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("check", "compare a candidate report with a baseline; exit 1 on regression");
  sub->add_option("--baseline", f->baseline, "baseline report")->required();
  sub->add_option("--candidate", f->candidate, "candidate report")->required();
  sub->add_option("--tolerance", f->options.tolerance, "layers a boundary may move")->capture_default_str()
      ->check(CLI::Range(0, 1000));
  sub->add_option("--min-confidence", f->options.min_confidence,
                  "compare a boundary only where both sides are at least this confident")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  sub->add_option("--allow-different", f->options.allow_different,
                  "compare even though this differs: lens, divergence, prompt_ids, image_sha256, model (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->callback([&action, f] {
    action = [f] {
      Json baseline = read_report(f->baseline);
      Json candidate = read_report(f->candidate);
      CheckOutcome outcome = check_reports(baseline, candidate, f->options);
      for (const auto& note : outcome.notes) spdlog::info("{}", note);
      for (const auto& finding : outcome.findings)
        std::cout << "REGRESSION " << finding.what << ": " << finding.detail << "\n";
      if (!outcome.regression) std::cout << "OK: " << f->candidate << " matches " << f->baseline << "\n";
      return outcome.regression ? static_cast<int>(ExitCode::regression) : 0;
    };
  });
}

}  // namespace lvlm::cli
