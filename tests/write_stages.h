// Runs `lvlm-probe` one write stage at a time, for the kill tests. The test-only hook in
// src/common/io.cc (docs/hardening.md, "The test suite on any CPU and under any load") makes the
// process log "<stage> <path>" and stop itself before each stage of every atomic write (create,
// write, sync, rename) and once the file is in place (done). A test lets it run from stop to stop
// and SIGKILLs it at the stop it chose: the kill lands at a known stage, however fast or loaded the
// machine is.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace lvlm::test {

struct WriteStage {
  std::string stage, path;
};

class StagedRun {
 public:
  // Starts `lvlm-probe <shell_args>` (stdout and stderr discarded) with the hook logging to `log`.
  StagedRun(const std::string& shell_args, std::string log) : log_(std::move(log)) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setenv("LVLM_PROBE_TEST_WRITE_STAGES", log_.c_str(), 1);
      const std::string cmd = "exec '" + std::string(LVLM_CLI) + "' " + shell_args + " >/dev/null 2>&1";
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~StagedRun() {
    if (pid_ > 0) kill();
  }
  StagedRun(const StagedRun&) = delete;
  StagedRun& operator=(const StagedRun&) = delete;

  // Lets the process run to its next stop: true when it stopped there, false when it exited.
  bool next_stop() {
    if (pid_ <= 0) return false;
    if (stopped_) ::kill(pid_, SIGCONT);
    int status = 0;
    ::waitpid(pid_, &status, WUNTRACED);
    stopped_ = WIFSTOPPED(status);
    if (!stopped_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
    }
    return stopped_;
  }
  // Runs to the end without killing; returns the exit code.
  int finish() {
    while (next_stop()) {
    }
    return exit_code_;
  }
  // Sends `sig` to the process; a stopped one receives it when it runs on (next_stop, finish).
  void signal(int sig) { ::kill(pid_, sig); }
  // SIGKILLs the (stopped) process and reaps it; true when the kill is what ended it.
  bool kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  // The stages reached so far, in order; while stopped, the last is where the process waits.
  std::vector<WriteStage> stages() const {
    std::vector<WriteStage> out;
    std::ifstream in(log_);
    std::string stage, path;
    while (in >> stage && std::getline(in >> std::ws, path)) out.push_back({stage, path});
    return out;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool stopped_ = false;
  int exit_code_ = -1;
};

// True when `path` reached the "done" stage (renamed into place) among `stages`.
inline bool written(const std::vector<WriteStage>& stages, const std::string& path) {
  for (const auto& s : stages)
    if (s.stage == "done" && s.path == path) return true;
  return false;
}

}  // namespace lvlm::test
