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

// Writes the HTML page of a report or summary (atomic; "-" = stdout).
void write_html(const std::string& path, const Json& report_or_summary, const RenderOptions& options = {});

// Where the shipped data lives: $LVLM_PROBE_DATA, else the source tree the binary was built from.
std::string shipped_path(const std::string& relative);
// InputError naming `path` when the directory it would be written into does not exist, so that a
// typo in --out fails before minutes of model time, not after them. "-" and "" pass.
void require_output_dir(const std::string& path);

}  // namespace lvlm::cli
