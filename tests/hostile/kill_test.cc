// Nothing lost, nothing half-written (issue 8): `lvlm-probe run` is SIGKILLed at spread-out
// moments, many times. After each kill the report path is either absent, or the previous
// complete report, or the new complete one: never a prefix. Temp files a kill leaves behind
// (the writer cannot clean up after SIGKILL) must never be mistaken for a report: they do not
// end in .json / .html.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "lvlm_probe/json.h"
#include "lvlm_probe/report.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Starts `lvlm-probe args...` with stdout/stderr discarded; returns its pid.
pid_t spawn(const std::vector<std::string>& args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* null = std::fopen("/dev/null", "w");
    if (null) {
      ::dup2(fileno(null), 1);
      ::dup2(fileno(null), 2);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(LVLM_CLI));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(LVLM_CLI, argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::vector<std::string> run_args(const std::string& dir) {
  return {"run", "--model", test::tiny_model(), "--image", test::tiny_model() + "/test.png", "--prompt",
          "What is shown in this image?", "--max-new-tokens", "8", "--out", dir + "/r.json", "--html", dir + "/r.html"};
}

TEST(Kill, RunKilledAtRandomMomentsLeavesNoCorruptReport) {
  // One complete run: the reference report and how long a run takes here (sanitizer builds are
  // slower, so the kill moments scale with it).
  test::TempDir ref;
  const auto t0 = Clock::now();
  const int ok = wait_for(spawn(run_args(ref.path())));
  const double full = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(ok) && WEXITSTATUS(ok) == 0) << "reference run failed";
  const Json reference = read_report(ref.file("r.json"));
  const std::string reference_html = read_file(ref.file("r.html"));

  std::mt19937 rng(20261125);
  int killed = 0, absent = 0, complete = 0, previous = 0;
  const int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) {
    SCOPED_TRACE("run " + std::to_string(i));
    test::TempDir dir;
    // Half the runs overwrite an earlier report, which must then survive intact.
    const bool has_previous = i % 2 == 1;
    Json old = reference;
    old["output"]["text"] = "an earlier run";
    const std::string old_text = old.dump();
    if (has_previous) write_file_atomic(dir.file("r.json"), old_text);
    // Moments spread over the whole run (and slightly past it), jittered.
    const double at = full * (i + std::uniform_real_distribution<double>(0, 1)(rng)) / kRuns * 1.1;
    const pid_t pid = spawn(run_args(dir.path()));
    std::this_thread::sleep_for(std::chrono::duration<double>(at));
    ::kill(pid, SIGKILL);
    const int status = wait_for(pid);
    killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;

    const std::string report = dir.file("r.json");
    if (!fs::exists(report)) {
      EXPECT_FALSE(has_previous) << "the earlier report vanished";
      ++absent;
    } else {
      const std::string text = read_file(report);
      if (has_previous && text == old_text) {
        ++previous;
      } else {
        Json got;
        ASSERT_NO_THROW(got = read_report(report)) << "corrupt report after kill at " << at << " s";
        EXPECT_EQ(got["output"], reference["output"]);
        EXPECT_EQ(got["tokens"].size(), reference["tokens"].size());
        ++complete;
      }
    }
    if (fs::exists(dir.file("r.html"))) {
      const std::string html = read_file(dir.file("r.html"));
      EXPECT_EQ(html.substr(html.size() > 16 ? html.size() - 16 : 0), reference_html.substr(reference_html.size() - 16))
          << "truncated page";
    }
    for (auto& e : fs::directory_iterator(dir.path())) {
      const std::string name = e.path().filename().string();
      if (name == "r.json" || name == "r.html") continue;
      // A stray temp file: fine, as long as nothing takes it for a report or a page.
      EXPECT_NE(name.find(".tmp."), std::string::npos) << "unexpected file " << name;
      EXPECT_FALSE(name.size() >= 5 && (name.substr(name.size() - 5) == ".json" || name.substr(name.size() - 5) == ".html"))
          << name;
    }
  }
  // The moments must really have interrupted runs, and also covered finished ones.
  EXPECT_GE(killed, kRuns / 2) << "full run " << full << " s";
  std::printf("[ kill ] full run %.2f s; %d/%d killed; after kill: %d absent, %d previous kept, %d complete\n", full,
              killed, kRuns, absent, previous, complete);
}

}  // namespace
}  // namespace lvlm
