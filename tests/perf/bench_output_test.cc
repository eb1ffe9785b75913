// The overhead figures `bench` prints, by hand on made-up timings (no process is run).
#include <gtest/gtest.h>

#include "lvlm_probe/bench.h"

namespace lvlm {
namespace {

BenchRun run_of(const std::string& mode, std::vector<double> totals, double median_total, int threads = 2) {
  BenchRun r;
  r.mode = mode;
  r.threads = threads;
  for (double t : totals) r.samples.push_back({0, 0, t / 2, t / 4, 0, t});
  r.timing = {0, 0, median_total / 2, median_total / 4, 0, median_total};
  r.token_ids = {5, 6};
  return r;
}

TEST(BenchOutput, OverheadOfMediansRunByRunAndOfTheFastestRuns) {
  BenchResult result;
  result.repeat = 3;
  // Run by run: 1.1 / 1.0, 1.8 / 2.0, 1.5 / 1.2 -> ratios 1.1, 0.9, 1.25, median 1.1.
  result.runs = {run_of("plain", {1.0, 2.0, 1.2}, 1.2), run_of("probe", {1.1, 1.8, 1.5}, 1.5)};
  OrderedJson o = bench_json(result)["overhead"].at(0);
  EXPECT_EQ(o["threads"], 2);
  EXPECT_NEAR(o["total"].get<double>(), 1.5 / 1.2 - 1, 1e-12);       // medians
  EXPECT_NEAR(o["generation"].get<double>(), 1.5 / 1.2 - 1, 1e-12);  // prefill + decode scale alike here
  EXPECT_NEAR(o["paired"].get<double>(), 0.1, 1e-12);
  EXPECT_NEAR(o["best"].get<double>(), 1.1 / 1.0 - 1, 1e-12);        // fastest probe over fastest plain
  EXPECT_TRUE(o["same_tokens"].get<bool>());
  const std::string table = bench_table(result);
  EXPECT_NE(table.find("+25.0 % end to end, +25.0 % in prefill + decode; run by run +10.0 %, fastest runs +10.0 %"),
            std::string::npos)
      << table;
}

TEST(BenchOutput, TheProbeAtEachThreadCountAgainstOneThread) {
  BenchResult result;
  result.repeat = 1;
  result.busy_cores = 1;
  result.runs = {run_of("plain", {1.0}, 1.0, 1), run_of("probe", {1.2}, 1.2, 1),
                 run_of("plain", {0.6}, 0.6, 2), run_of("probe", {1.5}, 1.5, 2)};
  const std::string table = bench_table(result);
  EXPECT_NE(table.find("the probe at 2 threads takes 1.25 x the time at 1 thread (1 busy cores)"), std::string::npos)
      << table;
  EXPECT_EQ(bench_json(result)["busy_cores"], 1);
}

}  // namespace
}  // namespace lvlm
