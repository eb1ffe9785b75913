// Subcommands of lvlm-probe. Each add_* declares its flags (once, with help) on a CLI11
// subcommand and stores the action to run after parsing; actions return the exit code and
// throw lvlm::Error for failures, which main() maps to exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "lvlm_probe/json.h"
#include "lvlm_probe/render.h"

namespace lvlm::cli {

using Action = std::function<int()>;

void add_run(CLI::App& app, Action& action);
void add_demo(CLI::App& app, Action& action);
void add_check(CLI::App& app, Action& action);
void add_inspect(CLI::App& app, Action& action);
void add_preprocess(CLI::App& app, Action& action);
void add_render(CLI::App& app, Action& action);
void add_make_model(CLI::App& app, Action& action);
void add_bench(CLI::App& app, Action& action);
void add_batch(CLI::App& app, Action& action);
void add_aggregate(CLI::App& app, Action& action);
void add_analyze(CLI::App& app, Action& action);
void add_evaluate(CLI::App& app, Action& action);

// Writes the HTML page of a report or summary (atomic; "-" = stdout).
void write_html(const std::string& path, const Json& report_or_summary, const RenderOptions& options = {});

// Where the shipped data lives: $LVLM_PROBE_DATA, else the source tree the binary was built from.
std::string shipped_path(const std::string& relative);

// Every flag that names a file the command writes or reads is declared through these (never a
// bare add_option), so run_command() can check them all before the command does any work and
// commit its outputs together (OutputSet; docs/hardening.md, "Outputs"): an output that is not a
// regular file, that is another output or stdout twice, or that would replace an input is
// refused with exit 2; a command that fails leaves none of its outputs. `label` names a
// positional argument in messages ("the report").
CLI::Option* add_output_option(CLI::App* sub, const std::string& flag, std::string& path, const std::string& help);
CLI::Option* add_input_option(CLI::App* sub, const std::string& flag, std::string& path, const std::string& help,
                              const std::string& label = "");
// A directory read by the command (a model): an output may not replace a file in it.
CLI::Option* add_input_dir_option(CLI::App* sub, const std::string& flag, std::string& path, const std::string& help);
// Batch run directories read by `aggregate`: an output may not be one of the run's own files.
CLI::Option* add_run_dirs_option(CLI::App* sub, const std::string& flag, std::vector<std::string>& paths,
                                 const std::string& help);
// Inputs the command reads without a flag (demo's shipped model and image).
void declare_input(CLI::App* sub, const std::string* path, bool directory);
// batch writes its run directory item by item so that it can resume: its files are not held
// back to the end (each is still written atomically, with the same checks).
void write_outputs_as_they_come(CLI::App* sub);

// Runs the parsed command's action: declared files checked, outputs committed together, stdout
// flushed and checked (RuntimeFailure when a write to it failed).
int run_command(const CLI::App& app, const Action& action);
// Whether some output of the running command goes to stdout (then nothing else is printed there).
bool stdout_is_output();
// Logs "<what> written to <path>" (nothing for "-") once the file is really in place: after the
// command's outputs are committed, so a later failure never leaves the message standing alone.
void log_written(const std::string& what, const std::string& path);

}  // namespace lvlm::cli
