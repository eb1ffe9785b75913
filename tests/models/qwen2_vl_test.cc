// Qwen2-VL and Qwen2.5-VL against transformers 4.57.6 (tests/data/tiny-qwen2-vl: float32, names
// before 4.52; tests/data/tiny-qwen2.5-vl: bfloat16, sharded, names from 4.52, tied head; made by
// scripts/reference/make_qwen_fixtures.py), three images each: the vision tower's features, the
// rope positions, every generated token's residual stream at every layer, the lens in all three
// modes, and bfloat16 compute by the CPU-independent rounding rule of variants_test.cc.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "lvlm_probe/lens.h"
#include "model_test_util.h"

namespace lvlm {
namespace {

using test::kHiddenTol;
using test::kProbTol;

struct Fixture {
  std::string dir;
  Json reference;
  std::unique_ptr<SafetensorsFile> pixels;
};

Fixture& fixture(const std::string& name) {
  static std::map<std::string, Fixture> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    const std::string dir = test::data_path(name);
    it = cache.emplace(name, Fixture{dir, read_json_file(dir + "/reference.json"),
                                     SafetensorsFile::open(dir + "/reference_pixels.safetensors")}).first;
  }
  return it->second;
}

// One model per fixture and compute dtype, loaded once for all tests.
VisionLanguageModel& model(const std::string& name, const std::string& dtype, const std::string& math = "exact") {
  static std::map<std::string, std::unique_ptr<VisionLanguageModel>> cache;
  auto& m = cache[name + "/" + dtype + "/" + math];
  if (!m) {
    DeviceOptions device;
    device.dtype = dtype;
    device.reduced_math = math;
    m = load_model(fixture(name).dir, device);
    set_fast_reduced_precision(false);  // process-wide: each run sets it again below
  }
  set_fast_reduced_precision(math == "fast");
  return *m;
}

// The case's pixel values as transformers' processor made them, and its grid.
ImageInput case_image(const Fixture& f, const Json& c) {
  const std::string key = c["pixel_values_key"].get<std::string>();
  for (const auto& view : f.pixels->tensors())
    if (view.name == key) {
      ImageInput image(tensor_from_view(view).clone());
      image.grid_thw = c["image_grid_thw"].get<std::vector<int64_t>>();
      image.num_tokens = c["num_image_tokens"].get<int64_t>();
      return image;
    }
  ADD_FAILURE() << "no pixel values " << key;
  return {};
}

double relative_l2(const at::Tensor& got, const Json& want) {
  const at::Tensor w = at::tensor(want.get<std::vector<double>>(), at::kDouble);
  return (got.to(at::kDouble).flatten() - w).norm().item<double>() / w.norm().item<double>();
}

struct Case {
  std::string fixture;
  int index;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.fixture << " case " << c.index; }  // test names in ctest

class QwenParity : public ::testing::TestWithParam<Case> {
 protected:
  Fixture& f() const { return fixture(GetParam().fixture); }
  const Json& c() const { return f().reference["cases"][GetParam().index]; }
};

TEST_P(QwenParity, ImageFeaturesAndRopePositions) {
  VisionLanguageModel& m = model(GetParam().fixture, "f32");
  const ImageInput image = case_image(f(), c());
  const at::Tensor features = m.encode_image(image);
  const Json& want = c()["image_features"]["values"];
  ASSERT_EQ(features.size(0), static_cast<int64_t>(want.size()));
  for (int64_t t = 0; t < features.size(0); ++t)
    EXPECT_LE(relative_l2(features[t], want[t]), kHiddenTol) << "image token " << t;

  const auto ids = c()["input_ids"].get<std::vector<int>>();
  const PromptEmbedding prompt = m.embed_prompt(ids, image, features);
  const int64_t s = static_cast<int64_t>(ids.size());
  ASSERT_EQ(prompt.embeddings.size(0), s);
  const auto positions = c()["position_ids"].get<std::vector<std::vector<int64_t>>>();
  ASSERT_EQ(prompt.position_ids.sizes(), (std::vector<int64_t>{3, s}));
  for (int axis = 0; axis < 3; ++axis)
    for (int64_t i = 0; i < s; ++i) ASSERT_EQ(prompt.position_ids[axis][i].item<int64_t>(), positions[axis][i]) << axis << "," << i;
  EXPECT_EQ(prompt.next_position, s + c()["rope_delta"].get<int64_t>());
  const auto span = c()["image_positions"].get<std::vector<int64_t>>();
  ASSERT_EQ(prompt.image_positions.size(), static_cast<size_t>(span[1] - span[0]));
  EXPECT_EQ(prompt.image_positions.front(), span[0]);

  // One image pad instead of the expanded run: the model expands it the same way.
  std::vector<int> one(ids.begin(), ids.begin() + span[0]);
  one.push_back(ids[span[0]]);
  one.insert(one.end(), ids.begin() + span[1], ids.end());
  const PromptEmbedding short_prompt = m.embed_prompt(one, image, features);
  EXPECT_TRUE(short_prompt.position_ids.equal(prompt.position_ids));
  EXPECT_TRUE(short_prompt.embeddings.equal(prompt.embeddings));
}

std::vector<TokenTrace> probe(VisionLanguageModel& m, const Fixture& f, const Json& c, LensMode mode,
                              Divergence divergence, std::vector<at::Tensor>* hidden = nullptr, bool cache = true) {
  LensOptions options;
  options.mode = mode;
  options.divergence = divergence;
  options.keep_hidden = hidden != nullptr;
  LogitLens lens(m, options);
  GenerateOptions gen;
  gen.max_new_tokens = f.reference["compute"]["max_new_tokens"].get<int>();
  gen.stop_at_eos = false;  // the reference always generates max_new_tokens
  gen.observer = &lens;
  gen.use_cache = cache;
  generate_greedy(m, c["input_ids"].get<std::vector<int>>(), case_image(f, c), gen);
  if (hidden) *hidden = lens.hidden();
  return lens.traces();
}

void expect_layers(const std::vector<double>& got, const Json& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t l = 0; l < got.size(); ++l) {
    if (want[l].is_null()) EXPECT_TRUE(std::isnan(got[l])) << what << " layer " << l;
    else EXPECT_NEAR(got[l], want[l].get<double>(), kProbTol) << what << " layer " << l;
  }
}

// Float32: each token's residual stream at every layer within 1e-3 relative, the same tokens, and
// the lens of every mode within 1e-4 of transformers' probabilities.
TEST_P(QwenParity, EveryTokenEveryLayerFloat32) {
  VisionLanguageModel& m = model(GetParam().fixture, "f32");
  const Json& steps = c()["steps"];
  for (LensMode mode : {LensMode::norm, LensMode::raw, LensMode::hf}) {
    const std::string name = lens_mode_name(mode);
    std::vector<at::Tensor> hidden;
    const std::vector<TokenTrace> jsd = probe(m, f(), c(), mode, Divergence::jsd, &hidden);
    const std::vector<TokenTrace> dola = probe(m, f(), c(), mode, Divergence::dola);
    ASSERT_EQ(jsd.size(), steps.size());
    for (size_t s = 0; s < steps.size(); ++s) {
      const std::string at = name + " step " + std::to_string(s);
      const Json& g = steps[s]["lens"][name];
      const TokenTrace& t = jsd[s];
      EXPECT_EQ(t.token_id, steps[s]["token_id"].get<int>()) << at;
      for (size_t l = 0; l < steps[s]["residual"].size(); ++l)
        EXPECT_LE(relative_l2(hidden[s][static_cast<int64_t>(l)], steps[s]["residual"][l]), kHiddenTol) << at << " layer " << l;
      expect_layers(t.p_token, g["p_token"], at + " p_token");
      EXPECT_EQ(t.rank, g["rank"].get<std::vector<int64_t>>()) << at;
      expect_layers(t.entropy, g["entropy"], at + " entropy");
      expect_layers(t.d_prev, g["jsd_prev"], at + " jsd_prev");
      expect_layers(t.d_final, g["jsd_final"], at + " jsd_final");
      expect_layers(dola[s].d_prev, g["dola_prev"], at + " dola_prev");
      for (size_t l = 0; l < t.topk_ids.size(); ++l) {
        EXPECT_EQ(t.topk_ids[l], g["top5_ids"][l].get<std::vector<int>>()) << at << " layer " << l;
        expect_layers(t.topk_probs[l], g["top5_probs"][l], at + " top5 layer " + std::to_string(l));
      }
    }
  }
}

// Decoding without the KV cache recomputes every position (rope positions included) each step:
// the same tokens and the same lens.
TEST_P(QwenParity, CacheFreeDecodingAgrees) {
  VisionLanguageModel& m = model(GetParam().fixture, "f32");
  const auto cached = probe(m, f(), c(), LensMode::norm, Divergence::jsd);
  const auto full = probe(m, f(), c(), LensMode::norm, Divergence::jsd, nullptr, /*cache=*/false);
  ASSERT_EQ(cached.size(), full.size());
  for (size_t s = 0; s < cached.size(); ++s) {
    EXPECT_EQ(cached[s].token_id, full[s].token_id) << s;
    for (size_t l = 0; l < cached[s].p_token.size(); ++l) EXPECT_NEAR(cached[s].p_token[l], full[s].p_token[l], kProbTol);
  }
}

// bfloat16 compute on tiny-qwen2.5-vl's bfloat16 weights, against the float32 reference by the
// rule variants_test.cc explains: hidden states within twice the largest deviation of 16 runs with
// every result perturbed by bfloat16's rounding, tokens equal wherever the reference's top-2 margin
// exceeds what that rounding can move.
TEST_P(QwenParity, Bfloat16WithinRounding) {
  if (!c().contains("bf16_rounding_model")) GTEST_SKIP() << "float32 fixture";
  const Json& rule = c()["bf16_rounding_model"];
  for (const char* math : {"exact", "fast"}) {
    SCOPED_TRACE(std::string("--reduced-math ") + math);
    VisionLanguageModel& m = model(GetParam().fixture, "bf16", math);
    std::vector<at::Tensor> hidden;
    const auto traces = probe(m, f(), c(), LensMode::norm, Divergence::jsd, &hidden);
    const Json& residual = c()["steps"][0]["residual"];
    for (size_t l = 0; l < residual.size(); ++l)
      EXPECT_LE(relative_l2(hidden[0][static_cast<int64_t>(l)], residual[l]), rule["hidden_tolerance"][l].get<double>())
          << "layer " << l;
    const auto want = c()["new_token_ids"].get<std::vector<int>>();
    const auto margins = c()["step_margins"].get<std::vector<double>>();
    const auto bounds = rule["margin_bound"].get<std::vector<double>>();
    for (size_t t = 0; t < want.size() && t < traces.size(); ++t) {
      if (traces[t].token_id == want[t]) continue;
      EXPECT_LE(margins[t], bounds[t]) << "step " << t << ": token " << traces[t].token_id << " instead of " << want[t];
      break;
    }
  }
  set_fast_reduced_precision(false);
}

// A skipped block passes the residual through: its layer equals the one before.
TEST_P(QwenParity, SkippedBlockIsIdentity) {
  VisionLanguageModel& m = model(GetParam().fixture, "f32");
  LensOptions options;
  options.keep_hidden = true;
  LogitLens lens(m, options);
  GenerateOptions gen;
  gen.max_new_tokens = 2;
  gen.observer = &lens;
  gen.skip_layers = {2};
  generate_greedy(m, c()["input_ids"].get<std::vector<int>>(), case_image(f(), c()), gen);
  ASSERT_EQ(lens.hidden().size(), 2u);
  for (const at::Tensor& h : lens.hidden()) {
    EXPECT_TRUE(h[2].equal(h[1]));
    EXPECT_FALSE(h[3].equal(h[2]));
  }
}

// The cases each fixture holds (scripts/reference/make_qwen_fixtures.py). Stated here rather than
// read: the parameters are made before main, in every test process, and reading the two 1 MB
// references there cost each of them 0.16 s. The test below keeps the count true.
constexpr int kCasesPerFixture = 3;
constexpr const char* kQwenFixtures[] = {"tiny-qwen2-vl", "tiny-qwen2.5-vl"};

TEST(QwenFixtures, HoldTheCasesTheParityTestsRun) {
  for (const char* name : kQwenFixtures)
    EXPECT_EQ(fixture(name).reference["cases"].size(), static_cast<size_t>(kCasesPerFixture)) << name;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* name : kQwenFixtures)
    for (int i = 0; i < kCasesPerFixture; ++i) out.push_back({name, i});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QwenParity, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string n = info.param.fixture + "_case" + std::to_string(info.param.index);
  for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

}  // namespace
}  // namespace lvlm
