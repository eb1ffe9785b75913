// `lvlm-probe check`: the regression gate for model teams' CI. Exit 1 when the stage boundaries
// moved by more than the tolerance or the output tokens changed.
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "lvlm_probe/report.h"

namespace lvlm::cli {

void add_check(CLI::App& app, Action& action) {
  struct Flags {
    std::string baseline, candidate;
    int tolerance = 1;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("check", "compare a candidate report with a baseline; exit 1 on regression");
  sub->add_option("--baseline", f->baseline, "baseline report")->required();
  sub->add_option("--candidate", f->candidate, "candidate report")->required();
  sub->add_option("--tolerance", f->tolerance, "layers a boundary may move")->capture_default_str()
      ->check(CLI::Range(0, 1000));
  sub->callback([&action, f] {
    action = [f] {
      Json baseline = read_report(f->baseline);
      Json candidate = read_report(f->candidate);
      CheckOutcome outcome = check_reports(baseline, candidate, f->tolerance);
      for (const auto& note : outcome.notes) spdlog::info("{}", note);
      for (const auto& finding : outcome.findings)
        std::cout << "REGRESSION " << finding.what << ": " << finding.detail << "\n";
      if (!outcome.regression) std::cout << "OK: " << f->candidate << " matches " << f->baseline << "\n";
      return outcome.regression ? static_cast<int>(ExitCode::regression) : 0;
    };
  });
}

}  // namespace lvlm::cli
