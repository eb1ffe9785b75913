// lvlm-probe: probe how knowledge evolves layer by layer in vision-language models.
// Parses the command line, runs one subcommand, maps failures to exit codes (SPEC §4):
// 0 ok, 1 regression found by `check`, 2 usage error, 3 bad input, 4 runtime failure.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <new>

#include "commands/commands.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/version.h"

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is reserved for what a command prints (or `--out -` JSON).
  auto logger = spdlog::stderr_color_mt("lvlm-probe");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);

  CLI::App app{"lvlm-probe " LVLM_PROBE_VERSION ": watch every decoder layer of a vision-language model "
               "and report where knowledge evolves, settles and mutates"};
  app.set_version_flag("--version", std::string(LVLM_PROBE_VERSION) + " (" + LVLM_PROBE_GIT + ")");
  app.require_subcommand(1);
  lvlm::cli::Action action;
  lvlm::cli::add_run(app, action);
  lvlm::cli::add_demo(app, action);
  lvlm::cli::add_check(app, action);
  lvlm::cli::add_inspect(app, action);
  lvlm::cli::add_preprocess(app, action);
  lvlm::cli::add_render(app, action);
  lvlm::cli::add_make_model(app, action);
  lvlm::cli::add_bench(app, action);
  lvlm::cli::add_batch(app, action);
  lvlm::cli::add_aggregate(app, action);
  lvlm::cli::add_analyze(app, action);
  // CLI11 would only say "A subcommand is required" for a misspelt command.
  std::string names;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !known) {
    spdlog::error("unknown command '{}' (commands: {})", argv[1], names);
    return static_cast<int>(lvlm::ExitCode::usage);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, version or the error
    return code == 0 ? 0 : static_cast<int>(lvlm::ExitCode::usage);
  }
  try {
    return action();
  } catch (const lvlm::Error& e) {
    spdlog::error("{}", e.what());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    spdlog::error("out of memory");
    return static_cast<int>(lvlm::ExitCode::runtime);
  } catch (const std::exception& e) {
    // libtorch errors (device, allocation) carry a multi-line backtrace; the first line says it.
    std::string what = e.what();
    spdlog::error("{}", what.substr(0, what.find('\n')));
    return static_cast<int>(lvlm::ExitCode::runtime);
  }
}
