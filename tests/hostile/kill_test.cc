// Nothing lost, nothing half-written: `lvlm-probe run --out --html` is SIGKILLed at every stage of
// its writes in turn, with and without an earlier report and page in place. The write-stage hook
// (tests/write_stages.h) stops the process before each stage, so every run dies at a known stage
// however fast or loaded the machine is. At every stop and after every kill each output is absent,
// the earlier complete file or the new complete one, never a prefix; which one follows from the
// stage. Temp files a kill leaves behind (the writer cannot clean up after SIGKILL) must never be
// mistaken for a report: they do not end in .json / .html.
#include <filesystem>

#include "lvlm_probe/json.h"
#include "lvlm_probe/report.h"
#include "test_util.h"
#include "write_stages.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

std::string run_args(const std::string& dir) {
  return "run --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
         "/test.png' --prompt 'What is shown in this image?' --max-new-tokens 8 --out '" + dir + "/r.json' --html '" +
         dir + "/r.html'";
}

struct Expected {
  Json report;
  std::string html;
};

// An output is absent, the earlier file, or the new complete one. Returns which: 0, 1, 2.
int report_state(const std::string& path, const std::string& earlier, const Expected& want) {
  if (!fs::exists(path)) return 0;
  const std::string text = read_file(path);
  if (!earlier.empty() && text == earlier) return 1;
  Json got;
  EXPECT_NO_THROW(got = read_report(path)) << "corrupt report";
  EXPECT_EQ(got["output"], want.report["output"]);
  EXPECT_EQ(got["tokens"].size(), want.report["tokens"].size());
  return 2;
}

int page_state(const std::string& path, const std::string& earlier, const Expected& want) {
  if (!fs::exists(path)) return 0;
  const std::string html = read_file(path);
  if (!earlier.empty() && html == earlier) return 1;
  // Pages carry the run's timings, so compare the end, which a truncated page lacks.
  const size_t n = std::min<size_t>(16, want.html.size());
  EXPECT_GE(html.size(), n);
  EXPECT_EQ(html.substr(html.size() - std::min(n, html.size())), want.html.substr(want.html.size() - n))
      << "truncated page";
  return 2;
}

void expect_no_stray_output(const std::string& dir) {
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name == "r.json" || name == "r.html") continue;
    // A stray temp file: fine, as long as nothing takes it for a report or a page.
    const std::string ext = name.size() >= 5 ? name.substr(name.size() - 5) : name;
    EXPECT_TRUE(ext != ".json" && ext != ".html") << "a temp file named like an output: " << name;
  }
}

TEST(Kill, RunKilledAtEachWriteStageLeavesNoCorruptReport) {
  // One complete run: the reference outputs and the stages a run goes through.
  test::TempDir ref, ref_log;
  test::StagedRun full(run_args(ref.path()), ref_log.file("stages"));
  ASSERT_EQ(full.finish(), 0) << "reference run failed";
  const std::vector<test::WriteStage> stages = full.stages();
  for (const std::string out : {"r.json", "r.html"})
    for (const char* stage : {"create", "write", "sync", "rename", "done"}) {
      bool seen = false;
      for (const auto& s : stages) seen |= s.stage == stage && s.path == ref.file(out);
      EXPECT_TRUE(seen) << out << " never reached stage " << stage << ": is the write-stage hook gone?";
    }
  const Expected want{read_report(ref.file("r.json")), read_file(ref.file("r.html"))};

  int killed = 0;
  for (size_t k = 0; k < stages.size(); ++k) {
    for (const bool has_earlier : {false, true}) {
      SCOPED_TRACE("killed at stop " + std::to_string(k) + " (" + stages[k].stage + " " +
                   fs::path(stages[k].path).filename().string() + ")" + (has_earlier ? ", over earlier outputs" : ""));
      test::TempDir dir, log;
      std::string earlier_report, earlier_page;
      if (has_earlier) {
        Json old = want.report;
        old["output"]["text"] = "an earlier run";
        earlier_report = old.dump();
        earlier_page = "<html>an earlier page</html>";
        write_file_atomic(dir.file("r.json"), earlier_report);
        write_file_atomic(dir.file("r.html"), earlier_page);
      }
      const int earlier_state = has_earlier ? 1 : 0;
      test::StagedRun run(run_args(dir.path()), log.file("stages"));
      for (size_t stop = 0; stop <= k; ++stop) {
        ASSERT_TRUE(run.next_stop()) << "the run ended before stop " << stop;
        // At every stop, whatever the stage, the outputs are whole.
        report_state(dir.file("r.json"), earlier_report, want);
        page_state(dir.file("r.html"), earlier_page, want);
        expect_no_stray_output(dir.path());
      }
      const auto reached = run.stages();
      ASSERT_EQ(reached.size(), k + 1);
      EXPECT_EQ(reached.back().stage, stages[k].stage);
      killed += run.kill();
      // After the kill: an output is new exactly when its rename had happened.
      EXPECT_EQ(report_state(dir.file("r.json"), earlier_report, want),
                test::written(reached, dir.file("r.json")) ? 2 : earlier_state);
      EXPECT_EQ(page_state(dir.file("r.html"), earlier_page, want),
                test::written(reached, dir.file("r.html")) ? 2 : earlier_state);
      expect_no_stray_output(dir.path());
    }
  }
  EXPECT_EQ(killed, static_cast<int>(2 * stages.size()));
  std::printf("[ kill ] %zu write stages, each killed with and without earlier outputs: %d kills\n", stages.size(),
              killed);
}

}  // namespace
}  // namespace lvlm
