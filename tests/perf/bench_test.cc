// `bench` on the tiny fixture: every field present and consistent. No timed assertions: timings
// depend on the machine and on whatever else it runs.
#include <filesystem>

#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/threads.h"
#include "test_util.h"

namespace lvlm {
namespace {

Json bench(const std::string& extra) {
  test::CliResult r = test::run_cli("bench --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                                    "/test.png' --input-ids 1,11,45,510,13,87 --max-new-tokens 4 --repeat 1 --json " +
                                    extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return parse_json(r.out, "bench stdout");
}

TEST(Bench, JsonHasEveryFieldForBothModesAndThreadCounts) {
  Json j = bench("");
  EXPECT_EQ(j["schema"], "lvlm-probe/bench/1");
  EXPECT_EQ(j["model"]["num_layers"], 4);
  EXPECT_GT(j["model"]["weights_bytes"].get<double>(), 0);
  EXPECT_EQ(j["max_new_tokens"], 4);
  // 1 thread and the default count (every usable core), plain and probe.
  const int usable = usable_cores();
  EXPECT_EQ(j["usable_cores"], usable);
  EXPECT_EQ(j["busy_cores"], 0);
  ASSERT_EQ(j["runs"].size(), usable > 1 ? 4u : 2u);
  for (const auto& run : j["runs"]) {
    SCOPED_TRACE(run.dump());
    EXPECT_TRUE(run["mode"] == "plain" || run["mode"] == "probe");
    EXPECT_EQ(run["new_tokens"], 4);  // EOS ignored: exactly --max-new-tokens
    EXPECT_EQ(run["sequence_length"], 21);
    for (const char* key : {"load", "vision", "prefill", "decode", "lens", "total"})
      EXPECT_GE(run["seconds"][key].get<double>(), 0.0) << key;
    EXPECT_GE(run["seconds"]["total"].get<double>(), run["seconds"]["prefill"].get<double>());
    EXPECT_GT(run["peak_rss_bytes"].get<double>(), 0);
    EXPECT_GT(run["tokens_per_second"].get<double>(), 0);
    EXPECT_EQ(run["samples"].size(), 1u);
    if (run["mode"] == "plain") EXPECT_EQ(run["seconds"]["lens"], 0.0);
  }
  EXPECT_EQ(j["runs"][0]["threads"], 1);
  if (usable > 1) EXPECT_EQ(j["runs"][2]["threads"], usable);
  ASSERT_EQ(j["overhead"].size(), usable > 1 ? 2u : 1u);
  for (const auto& o : j["overhead"]) EXPECT_TRUE(o["same_tokens"].get<bool>()) << o.dump();
}

TEST(Bench, OneThreadCountAndATable) {
  Json j = bench("--threads 1 --positions all");
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][1]["threads"], 1);
  test::CliResult r = test::run_cli("bench --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                                    "/test.png' --input-ids 1,11,45,510,13,87 --max-new-tokens 2 --repeat 1 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("overhead of the probe at 1 thread(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak RSS"), std::string::npos) << r.out;
}

// Whether a process whose command line holds `marker` is still alive.
bool process_alive_with(const std::string& marker) {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    try {
      if (read_file(e.path() / "cmdline").find(marker) != std::string::npos) return true;
    } catch (const Error&) {  // the process ended meanwhile
    }
  }
  return false;
}

TEST(Bench, BusyCoresAreReportedAndStopWithTheBench) {
  const std::string ids = "1,2,3,5,8,13,21";  // marks this test's processes
  test::CliResult r = test::run_cli("bench --model '" + test::tiny_model() + "' --input-ids " + ids +
                                    " --max-new-tokens 2 --repeat 1 --threads 1 --busy-cores 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = parse_json(r.out, "bench stdout");
  EXPECT_EQ(j["busy_cores"], 2);
  EXPECT_EQ(j["runs"].size(), 2u);
  EXPECT_FALSE(process_alive_with(ids)) << "a spinning process outlived the bench";
  EXPECT_EQ(test::run_cli("bench --model m --input-ids 1 --busy-cores -1").exit_code, 2);
}

TEST(Bench, ErrorsComeFromTheMeasuringProcessWithTheirExitCode) {
  test::CliResult r = test::run_cli("bench --model /nonexistent --input-ids 1,2 --repeat 1");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = test::run_cli("bench --model '" + test::tiny_model() + "' --input-ids 1,2,99999 --repeat 1 --threads 1");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("outside the vocabulary"), std::string::npos) << r.err;
}

// --floor: the floors measured and every phase against its floor, consistently in JSON and the table.
TEST(Bench, FloorGivesEveryPhaseAsARatioToItsFloor) {
  Json j = bench("--threads 1 --floor");
  ASSERT_EQ(j["floors"].size(), 1u) << j.dump();
  const Json& f = j["floors"][0];
  EXPECT_EQ(f["threads"], 1);
  for (const char* key : {"gemm_f32_flops", "gemm_bf16_flops", "memory_bytes_per_second"}) EXPECT_GT(f[key].get<double>(), 0) << key;
  EXPECT_FALSE(f["load_average"].get<std::string>().empty());
  for (const char* phase : {"vision", "prefill", "decode_step", "lens_step"}) {
    SCOPED_TRACE(phase);
    const Json& p = f["phases"][phase];
    ASSERT_TRUE(p.is_object()) << f.dump();
    EXPECT_GT(p["floor_seconds"].get<double>(), 0);
    EXPECT_NEAR(p["ratio"].get<double>(), p["seconds"].get<double>() / p["floor_seconds"].get<double>(), 1e-9);
  }
  EXPECT_DOUBLE_EQ(f["phases"]["vision"]["seconds"].get<double>(), j["runs"][0]["seconds"]["vision"].get<double>());
  EXPECT_NEAR(f["phases"]["decode_step"]["seconds"].get<double>(), j["runs"][0]["seconds"]["decode"].get<double>() / 3, 1e-12);
  EXPECT_NEAR(f["phases"]["lens_step"]["seconds"].get<double>(), j["runs"][1]["seconds"]["lens"].get<double>() / 4, 1e-12);
  EXPECT_FALSE(bench("--threads 1").contains("floors"));
}

}  // namespace
}  // namespace lvlm
