// Checkpoints the shipped fixture does not cover (scripts/reference/make_variant_models.py):
// sharded + GQA + untied head + full-strategy vision features + rope_theta; bfloat16 and float16
// weights; other image/patch sizes with linear RoPE scaling; transformers >= 4.52 tensor names.
#include <algorithm>
#include <filesystem>

#include "model_test_util.h"
#include "models/cpu_matmul.h"

namespace lvlm {
namespace {

class Variant : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return test::data_path("variants/" + GetParam()); }
};

struct VariantRun {
  GenerateResult out;
  std::map<int, at::Tensor> layers;  // layer -> [1, hidden] at the prompt's last position, float32
  at::Tensor final_normed;           // final_norm(layer L), float32
};

VariantRun run_variant(const std::string& dir, const Json& ref, const std::string& dtype,
                       const std::string& reduced_math = "exact") {
  DeviceOptions device;
  device.dtype = dtype;
  device.reduced_math = reduced_math;
  auto model = load_model(dir, device);
  const int L = ref["num_layers"].get<int>();
  EXPECT_EQ(model->info().num_layers, L);
  const int64_t last = ref["expanded_length"].get<int64_t>() - 1;
  test::CaptureObserver capture({last});
  GenerateOptions options;
  options.max_new_tokens = 8;
  options.observer = &capture;
  VariantRun run;
  run.out = generate_greedy(*model, ref["prompt_ids"].get<std::vector<int>>(),
                            test::load_pixels(dir + "/pixel_values.safetensors"), options);
  EXPECT_EQ(run.out.prompt_length, last + 1);
  run.layers = capture.layers;
  const at::Tensor top = capture.layers.at(L)[0].to(dtype == "bf16" ? at::kBFloat16 : at::kFloat);
  run.final_normed = model->final_norm(top).to(at::kFloat);
  return run;
}

// bfloat16 against the float32 reference of the same bfloat16 weights. The reference's
// bf16_rounding_model (scripts/reference/make_variant_models.py) ran that float32 model 16 times
// with every floating-point result multiplied by (1 + t), t uniform in [-2^-8, 2^-8]: bfloat16
// keeps 8 significant bits, so a kernel that sums in float32 and rounds each result to bfloat16
// (oneDNN on any CPU, libtorch's own loops, --reduced-math fast) is one more such run, whichever
// CPU it takes. The tolerances are twice the largest deviation of those runs: nothing here depends
// on the CPU or the libtorch version. (Measured on four checkpoints, real runs stray 0.1 to 0.4
// of the hidden-state tolerance.)
void expect_within_bf16_rounding(const VariantRun& run, const Json& ref) {
  const Json& model = ref.at("bf16_rounding_model");
  const Json& values = ref["hidden_last_position_values"];
  const int L = ref["num_layers"].get<int>();
  auto relative_l2 = [](const at::Tensor& got, const Json& want) {
    const at::Tensor w = at::tensor(want.get<std::vector<double>>(), at::kDouble);
    return (got.to(at::kDouble).flatten() - w).norm().item<double>() / w.norm().item<double>();
  };
  // Hidden states at the prompt's last position: relative L2 distance from float32, per layer
  // (transformers' last entry is final-normed, ours the raw residual: compare final_norm of it).
  for (int l = 0; l <= L; ++l) {
    const at::Tensor got = l < L ? run.layers.at(l)[0] : run.final_normed;
    EXPECT_LE(relative_l2(got, values[l]), model["hidden_tolerance"][l].get<double>()) << "layer " << l;
  }
  // Greedy tokens. Rounding can move a step's top-1 logit relative to the others by at most
  // margin_bound (twice the largest such move of the rounding runs, in the reference context):
  // where the float32 margin between the top two is wider, the token is certain and must match.
  // Once a token differs (allowed only where the margin is narrower), the contexts differ and
  // later steps are no longer comparable.
  const auto want = ref["new_token_ids"].get<std::vector<int>>();
  const auto margins = ref["step_margins"].get<std::vector<double>>();
  const auto bounds = model["margin_bound"].get<std::vector<double>>();
  ASSERT_EQ(margins.size(), want.size());
  ASSERT_EQ(bounds.size(), want.size());
  const std::vector<int>& got = run.out.token_ids;
  for (size_t t = 0; t < want.size(); ++t) {
    if (t < got.size() && got[t] == want[t]) continue;
    EXPECT_LE(margins[t], bounds[t]) << "step " << t << ": token " << (t < got.size() ? got[t] : -1)
                                     << " instead of " << want[t] << ", whose lead " << margins[t]
                                     << " exceeds what bf16 rounding can move (" << bounds[t] << ")";
    break;
  }
}

// Float32 (also of bfloat16 weights, widened exactly): hidden states within 1e-3 relative, as
// README.md promises for float32, and the same greedy tokens.
void expect_float32_match(const VariantRun& run, const Json& ref) {
  const int L = ref["num_layers"].get<int>();
  const double tol = 1e-3;
  for (int l = 0; l < L; ++l)
    test::expect_summary(run.layers.at(l)[0], ref["hidden_last_position_hf"][l], tol, "layer " + std::to_string(l));
  test::expect_summary(run.final_normed, ref["hidden_last_position_hf"][L], tol, "final norm");
  EXPECT_EQ(run.out.token_ids, ref["new_token_ids"].get<std::vector<int>>());
}

TEST_P(Variant, MatchesTransformers) {
  const Json ref = read_json_file(dir() + "/reference.json");
  ASSERT_EQ(ref["compute_dtype"], "float32") << "references are float32 runs of the checkpoint";
  {
    SCOPED_TRACE("float32");
    expect_float32_match(run_variant(dir(), ref, "f32"), ref);
  }
  if (ref["weights_dtype"] != "bfloat16") return;
  ASSERT_TRUE(ref.contains("bf16_rounding_model")) << "rerun scripts/reference/make_variant_models.py";
  for (const char* math : {"exact", "fast"}) {
    SCOPED_TRACE(std::string("bfloat16, --reduced-math ") + math);
    expect_within_bf16_rounding(run_variant(dir(), ref, "bf16", math), ref);
  }
  set_fast_reduced_precision(false);  // process-wide: leave the default to the tests after this one
}

// Every directory under tests/data/variants: a checkpoint made by make_variant_models.py is tested
// as soon as it is there.
std::vector<std::string> variant_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(test::data_path("variants")))
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, Variant, ::testing::ValuesIn(variant_names()), [](const auto& info) {
  std::string n = info.param;
  for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
});

}  // namespace
}  // namespace lvlm
