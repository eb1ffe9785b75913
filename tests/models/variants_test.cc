// Checkpoints the shipped fixture does not cover (scripts/reference/make_variant_models.py):
// sharded + GQA + untied head + full-strategy vision features + rope_theta; bfloat16 and float16
// weights; other image/patch sizes with linear RoPE scaling; transformers >= 4.52 tensor names.
#include <torch/version.h>

#include "model_test_util.h"

namespace lvlm {
namespace {

class Variant : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return test::data_path("variants/" + GetParam()); }
};

// bfloat16 kernels differ between libtorch versions (transformers' own greedy tokens change from
// torch 1.13 to 2.x) and between CPUs (with AVX-512 BW/VL/DQ both send bfloat16 products to
// oneDNN), so a variant may carry a reference made with the same major version on the same kind
// of CPU: reference.torchN.avx512.json, reference.torchN.json, else reference.json.
std::string reference_file(const std::string& dir) {
  const std::string torch = dir + "/reference.torch" + std::to_string(TORCH_VERSION_MAJOR);
  const bool onednn_bf16 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                           __builtin_cpu_supports("avx512dq");
  if (onednn_bf16 && file_exists(torch + ".avx512.json")) return torch + ".avx512.json";
  return file_exists(torch + ".json") ? torch + ".json" : dir + "/reference.json";
}

TEST_P(Variant, MatchesTransformers) {
  Json ref = read_json_file(reference_file(dir()));
  const bool bf16 = ref["compute_dtype"] == "bfloat16";
  DeviceOptions device;
  device.dtype = bf16 ? "bf16" : "f32";
  auto model = load_model(dir(), device);
  const int L = ref["num_layers"].get<int>();
  ASSERT_EQ(model->info().num_layers, L);
  const int64_t last = ref["expanded_length"].get<int64_t>() - 1;
  test::CaptureObserver capture({last});
  GenerateOptions options;
  options.max_new_tokens = 8;
  options.observer = &capture;
  GenerateResult out = generate_greedy(*model, ref["prompt_ids"].get<std::vector<int>>(),
                                       test::load_pixels(dir() + "/pixel_values.safetensors"), options);
  EXPECT_EQ(out.prompt_length, last + 1);
  // Hidden states: 1e-3 relative in float32 (SPEC §7); bf16 rounding compounds over layers.
  const double tol = bf16 ? 3e-2 : 1e-3;
  for (int l = 0; l < L; ++l)
    test::expect_summary(capture.layers.at(l)[0], ref["hidden_last_position_hf"][l], tol, "layer " + std::to_string(l));
  // transformers' last entry is final-normed; ours is the raw residual.
  test::expect_summary(model->final_norm(capture.layers.at(L)[0].to(bf16 ? at::kBFloat16 : at::kFloat)),
                       ref["hidden_last_position_hf"][L], tol, "final norm");
  EXPECT_EQ(out.token_ids, ref["new_token_ids"].get<std::vector<int>>());
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, Variant,
                         ::testing::Values("gqa-untied-sharded", "bf16", "f16-weights", "image48-patch16-rope-linear",
                                           "new-layout"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

}  // namespace
}  // namespace lvlm
