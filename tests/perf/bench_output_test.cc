// The overhead figures `bench` prints, by hand on made-up timings (no process is run).
#include <gtest/gtest.h>

#include "lvlm_probe/bench.h"
#include "../../src/models/llava/config.h"

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

// The work of each phase by hand, on a geometry small enough to count: vision hidden 4 (MLP 8),
// 2 layers of which LLaVA's feature layer -2 runs 1, 4 patches of 2 x 2 px (5 tokens with CLS);
// text hidden 8, 2 query heads and 1 key/value head of 4, MLP 16, 3 layers, vocabulary 10.
TEST(BenchFloors, WorkOfEachPhaseByHand) {
  LlavaConfig c;
  c.vision.hidden_size = 4, c.vision.intermediate_size = 8, c.vision.num_hidden_layers = 2;
  c.vision.image_size = 4, c.vision.patch_size = 2;
  c.text.hidden_size = 8, c.text.num_attention_heads = 2, c.text.num_key_value_heads = 1, c.text.head_dim = 4;
  c.text.intermediate_size = 16, c.text.num_hidden_layers = 3, c.text.vocab_size = 10;
  const ModelWork w = model_work(c, 10, 4, 4);
  // vision: a layer holds 4*4*4 + 2*4*8 = 128 weights, the patch convolution 4*3*2*2 = 48, the
  // projector 4*8 + 8*8 = 96: 2*5*128 + 4*5*5*4 (attention) + 2*4*48 + 2*4*96 (4 features).
  EXPECT_DOUBLE_EQ(w.vision.flops, 1280 + 400 + 384 + 768);
  EXPECT_DOUBLE_EQ(w.vision.bytes, (128 + 48 + 96) * 4);
  // decoder layer: q and o 8*8 each, k and v 8*4 each, three MLP matrices 8*16: 576; head 80.
  EXPECT_DOUBLE_EQ(w.prefill.flops, 2 * 10 * 3 * 576 + 4 * 10 * 10 * 8 * 3 + 2 * 80);
  EXPECT_DOUBLE_EQ(w.prefill.bytes, (3 * 576 + 80) * 4);
  // a decoding step at the average cache length 10 + 4/2 = 12: keys and values of 4 per layer
  EXPECT_DOUBLE_EQ(w.decode_step.flops, 2 * (3 * 576 + 80) + 4 * 12 * 8 * 3);
  EXPECT_DOUBLE_EQ(w.decode_step.bytes, (3 * 576 + 80) * 4 + 2 * 3 * 4 * 12 * 4);
  EXPECT_DOUBLE_EQ(w.lens_step.flops, 2 * 4 * 80);
  EXPECT_DOUBLE_EQ(w.lens_step.bytes, 80 * 4);

  MachineFloors m;
  m.gemm_f32 = 1000, m.gemm_bf16 = 4000, m.memory = 1000;
  EXPECT_DOUBLE_EQ(floor_seconds(w.prefill, m, false), 44320 / 1000.0);  // compute-bound
  EXPECT_DOUBLE_EQ(floor_seconds(w.prefill, m, true), 44320 / 4000.0);   // bf16's faster products
  EXPECT_DOUBLE_EQ(floor_seconds(w.decode_step, m, false), 8384 / 1000.0);  // memory-bound
}

}  // namespace
}  // namespace lvlm
