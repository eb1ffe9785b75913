// The files each command reads and writes, declared with their flags, and the run of a command
// inside an OutputSet: the rules of docs/hardening.md, "Outputs", for every command at once.
#include <map>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/batch.h"
#include "lvlm_probe/common.h"

namespace lvlm::cli {
namespace {

enum class Kind { output, input, input_dir, run_dir };

struct Declared {
  Kind kind;
  std::string flag;                                 // as named in messages
  std::function<std::vector<std::string>()> paths;  // read after parsing: defaults included
  const CLI::Option* option = nullptr;              // none for inputs without a flag
};

struct CommandFiles {
  std::vector<Declared> declared;
  bool as_they_come = false;
};

std::map<const CLI::App*, CommandFiles>& registry() {
  static std::map<const CLI::App*, CommandFiles> files;
  return files;
}

CLI::Option* declare(CLI::App* sub, Kind kind, const std::string& flag, std::string& path, const std::string& help,
                     const std::string& label) {
  CLI::Option* option = sub->add_option(flag, path, help);
  registry()[sub].declared.push_back({kind, label.empty() ? flag : label, [&path] { return std::vector{path}; }, option});
  return option;
}

// Inputs first, so that each output is checked against all of them as it is added.
void add_declared(const CommandFiles& files, OutputSet& set) {
  for (const Declared& d : files.declared)
    for (const std::string& path : d.paths()) {
      // "" is an optional file not given, unless the flag was typed with it.
      if (path.empty() && d.option && d.option->count() > 0) throw UsageError(d.flag + ": the path is empty");
      if (d.kind == Kind::input) set.add_input(path, d.flag);
      if (d.kind == Kind::input_dir) set.add_input_dir(path, d.flag);
      if (d.kind == Kind::run_dir) set.add_input_dir(path, d.flag, is_run_dir_file);
    }
  for (const Declared& d : files.declared)
    if (d.kind == Kind::output)
      for (const std::string& path : d.paths()) set.add_output(path, d.flag);
}

}  // namespace

CLI::Option* add_output_option(CLI::App* sub, const std::string& flag, std::string& path, const std::string& help) {
  return declare(sub, Kind::output, flag, path, help, "");
}

CLI::Option* add_input_option(CLI::App* sub, const std::string& flag, std::string& path, const std::string& help,
                              const std::string& label) {
  return declare(sub, Kind::input, flag, path, help, label);
}

CLI::Option* add_input_dir_option(CLI::App* sub, const std::string& flag, std::string& path, const std::string& help) {
  return declare(sub, Kind::input_dir, flag, path, help, "");
}

CLI::Option* add_run_dirs_option(CLI::App* sub, const std::string& flag, std::vector<std::string>& paths,
                                 const std::string& help) {
  CLI::Option* option = sub->add_option(flag, paths, help);
  registry()[sub].declared.push_back({Kind::run_dir, "the run directory", [&paths] { return paths; }, option});
  return option;
}

void declare_input(CLI::App* sub, const std::string* path, bool directory) {
  registry()[sub].declared.push_back(
      {directory ? Kind::input_dir : Kind::input, "the shipped " + std::string(directory ? "model" : "image"),
       [path] { return std::vector{*path}; }});
}

void write_outputs_as_they_come(CLI::App* sub) { registry()[sub].as_they_come = true; }

namespace {

// "written to" messages held back until the command's outputs are committed.
std::vector<std::string>& pending_messages() {
  static std::vector<std::string> messages;
  return messages;
}

}  // namespace

void log_written(const std::string& what, const std::string& path) {
  if (path == "-") return;
  const std::string message = what + " written to " + path;
  if (OutputSet::active()) pending_messages().push_back(message);
  else spdlog::info("{}", message);
}

int run_command(const CLI::App& app, const Action& action) {
  const CommandFiles& files = registry()[app.get_subcommands().at(0)];
  if (files.as_they_come) {
    {
      OutputSet checks_only;  // released before the action: its writes are not held back
      add_declared(files, checks_only);
    }
    const int code = action();
    flush_stdout();
    return code;
  }
  OutputSet outputs;
  add_declared(files, outputs);
  const int code = action();
  outputs.commit();
  for (const auto& message : pending_messages()) spdlog::info("{}", message);
  pending_messages().clear();
  flush_stdout();
  return code;
}

bool stdout_is_output() {
  const OutputSet* set = OutputSet::active();
  return set && set->writes_stdout();
}

}  // namespace lvlm::cli
