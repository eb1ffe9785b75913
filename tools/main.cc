// lvlm-probe: probe how knowledge evolves layer by layer in vision-language models.
// Parses the command line, runs one subcommand, maps failures to exit codes (README, "Exit codes"):
// 0 ok, 1 regression found by `check`, 2 usage error, 3 bad input, 4 runtime failure.
//
// Built twice (tools/CMakeLists.txt): as lvlm-probe, without libtorch, which runs the commands
// that need no model itself and hands the others (and the full --help) to lvlm-probe-torch; and
// as lvlm-probe-torch, which holds every command.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>
#include <new>
#include <string>

#include "commands/commands.h"
#include "launch.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/version.h"

namespace {

using AddCommand = void (*)(CLI::App&, lvlm::cli::Action&);

struct Command {
  const char* id;   // add_<id>() in commands/<id>.cc; the command's name has '-' for '_'
  AddCommand add;   // nullptr: not in this binary (lvlm-probe hands it to lvlm-probe-torch)
};

#define LVLM_LIGHT(id) {#id, &lvlm::cli::add_##id},
#ifdef LVLM_CLI_WITH_TORCH
#define LVLM_TORCH(id) {#id, &lvlm::cli::add_##id},
#else
#define LVLM_TORCH(id) {#id, nullptr},
#endif
constexpr Command kCommands[] = {
#include "command_table.inc"
};
#undef LVLM_LIGHT
#undef LVLM_TORCH

std::string command_name(const Command& c) {
  std::string name = c.id;
  for (char& ch : name) ch = ch == '_' ? '-' : ch;
  return name;
}

const Command* find_command(const char* name) {
  for (const Command& c : kCommands)
    if (command_name(c) == name) return &c;
  return nullptr;
}

std::string command_names() {
  std::string names;
  for (const Command& c : kCommands) names += (names.empty() ? "" : ", ") + command_name(c);
  return names;
}

// Whether lvlm-probe must hand this command line to lvlm-probe-torch: a command that loads a
// model, or the top-level help, which describes every command.
bool needs_torch_binary(int argc, char** argv) {
#ifdef LVLM_CLI_WITH_TORCH
  (void)argc, (void)argv;
  return false;
#else
  if (argc < 2) return false;
  if (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0) return true;
  const Command* c = find_command(argv[1]);
  return c && !c->add;
#endif
}

int parse_and_run(int argc, char** argv) {
  CLI::App app{"lvlm-probe " LVLM_PROBE_VERSION ": watch every decoder layer of a vision-language model "
               "and report where knowledge evolves, settles and mutates"};
  app.set_version_flag("--version", std::string(LVLM_PROBE_VERSION) + " (" + lvlm::build_commit() + ")");
  app.require_subcommand(1);
  lvlm::cli::Action action;
  for (const Command& c : kCommands)
    if (c.add) c.add(app, action);
  // CLI11 would only say "A subcommand is required" for a misspelt command.
  if (argc > 1 && argv[1][0] != '-' && !find_command(argv[1])) {
    spdlog::error("unknown command '{}' (commands: {})", argv[1], command_names());
    return static_cast<int>(lvlm::ExitCode::usage);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, version or the error
    return code == 0 ? 0 : static_cast<int>(lvlm::ExitCode::usage);
  }
  return lvlm::cli::run_command(app, action);
}

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is reserved for what a command prints (or `--out -` JSON).
  auto logger = spdlog::stderr_color_mt("lvlm-probe");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);

  if (needs_torch_binary(argc, argv)) return lvlm::cli::exec_torch_binary(argv);
  try {
    return parse_and_run(argc, argv);
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
