// --device cpu-generic: the whole probe through ATen's device-generic operations, as CUDA runs it,
// against the CPU's fused kernels on the same input (same tokens, every probability and divergence
// within 1e-4), on tiny-llava and nano-llava; and the host syncs per generation step on that path
// (lvlm_probe/device_path.h): one for the lens, two for greedy decoding (its argmax, and the
// chosen token's id sent to the device), one for the finite guard.
#include <ATen/ATen.h>

#include <cmath>

#include "lvlm_probe/device_path.h"
#include "lvlm_probe/probe.h"
#include "models/cpu_matmul.h"
#include "test_util.h"

namespace lvlm {
namespace {

struct Probed {
  ProbeResult result;
  SyncCounts syncs{};
};

Probed probe_on(const std::string& device, const std::string& model_dir, const ProbeRequest& request) {
  SessionOptions o;
  o.model_dir = model_dir;
  o.device.device = device;
  o.device.dtype = "f32";
  ProbeSession session(o);
  EXPECT_EQ(generic_kernels(), device == "cpu-generic");
  reset_sync_counts();
  Probed p{session.run(request), sync_counts()};
  set_generic_kernels(false);  // process-wide: leave the fused kernels on for the other tests
  return p;
}

int64_t syncs_at(const Probed& p, SyncSite site) { return p.syncs[static_cast<size_t>(site)]; }

void expect_near_all(const std::vector<double>& a, const std::vector<double>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t l = 0; l < a.size(); ++l)
    if (!std::isnan(a[l]) || !std::isnan(b[l])) EXPECT_NEAR(a[l], b[l], 1e-4) << what << " layer " << l;
}

// Tokens equal; every per-layer probability, entropy and divergence within 1e-4. Returns whether
// any value differs at all, i.e. whether two different computations ran.
bool expect_same_probe(const ProbeResult& fused, const ProbeResult& generic) {
  EXPECT_EQ(fused.token_ids, generic.token_ids);
  bool differs = false;
  for (size_t i = 0; i < std::min(fused.tokens.size(), generic.tokens.size()); ++i) {
    const TokenTrace &f = fused.tokens[i], &g = generic.tokens[i];
    const std::string step = "step " + std::to_string(i) + " ";
    expect_near_all(f.p_token, g.p_token, step + "p_token");
    expect_near_all(f.entropy, g.entropy, step + "entropy");
    expect_near_all(f.d_prev, g.d_prev, step + "d_prev");
    expect_near_all(f.d_final, g.d_final, step + "d_final");
    for (size_t l = 0; l < f.topk_probs.size(); ++l) expect_near_all(f.topk_probs[l], g.topk_probs[l], step + "top-k");
    differs = differs || f.p_token != g.p_token || f.d_prev[1] != g.d_prev[1];
  }
  return differs;
}

TEST(GenericPath, TurnsOffEveryFusedKernel) {
  const at::Tensor w = at::randn({8, 16});
  set_generic_kernels(true);
  EXPECT_FALSE(cpu_kernels_for(w));
  EXPECT_FALSE(linear_rows_independent(1, w));
  set_generic_kernels(false);
  EXPECT_TRUE(cpu_kernels_for(w));
  EXPECT_EQ(linear_rows_independent(1, w), skinny_kernel_available());
}

TEST(GenericPath, RefusesTheCpusOwnReducedMath) {
  SessionOptions o;
  o.model_dir = test::tiny_model();
  o.device = {"cpu-generic", "bf16", 0, "fast"};
  EXPECT_THROW(ProbeSession{o}, UsageError);
  set_generic_kernels(false);
}

TEST(GenericPath, TinyLlavaEqualsTheFusedPathWithOneLensSyncPerStep) {
  const Json gold = read_json_file(test::tiny_model() + "/gold_report.json");
  ProbeRequest r;
  r.image = test::tiny_model() + "/test.png";
  r.input_ids = gold["prompt_ids"].get<std::vector<int>>();
  r.max_new_tokens = 8;
  r.stop_at_eos = false;
  test::TempDir dir;
  r.dump_features = dir.file("features.safetensors");  // kept per step on the device, read after decoding
  const Probed fused = probe_on("cpu", test::tiny_model(), r);
  const Probed generic = probe_on("cpu-generic", test::tiny_model(), r);
  const bool differs = expect_same_probe(fused.result, generic.result);
  if (skinny_kernel_available()) EXPECT_TRUE(differs) << "both runs took the same kernels";

  const int64_t steps = static_cast<int64_t>(generic.result.token_ids.size());
  ASSERT_EQ(steps, 8);
  EXPECT_LE(syncs_at(generic, SyncSite::lens), steps);   // at most one per step
  EXPECT_GE(syncs_at(generic, SyncSite::lens), 1);
  // per forward pass: greedy's argmax, and the ids of its input (the prompt's, then each new token)
  EXPECT_EQ(syncs_at(generic, SyncSite::decode), 2 * steps);
  EXPECT_EQ(syncs_at(generic, SyncSite::guard), steps);  // the finite guard, one per forward pass
  EXPECT_EQ(syncs_at(generic, SyncSite::features), steps);  // after decoding, one per token written
  EXPECT_EQ(generic.result.model.device, "cpu-generic");
}

TEST(GenericPath, NanoLlavaEqualsTheFusedPath) {
  const std::string model = test::data_path("nano-llava");
  ProbeRequest r;
  r.image = model + "/scene.png";
  r.prompt = "What is in the image?";
  r.max_new_tokens = 12;
  const Probed fused = probe_on("cpu", model, r);
  const Probed generic = probe_on("cpu-generic", model, r);
  expect_same_probe(fused.result, generic.result);
  EXPECT_EQ(generic.result.text, "a red circle and a blue triangle.");
  const int64_t steps = static_cast<int64_t>(generic.result.token_ids.size());
  EXPECT_LE(syncs_at(generic, SyncSite::lens), steps);
  EXPECT_EQ(syncs_at(generic, SyncSite::decode), 2 * steps);
}

}  // namespace
}  // namespace lvlm
