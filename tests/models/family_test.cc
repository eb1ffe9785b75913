// The family seam, torch-free: the registry finds LLaVA by architecture and by preset, refuses
// others by name, and LLaVA's processor gives the probe the fixture's pixels and prompt ids with
// the geometry that places every image token in the original image.
#include <fstream>

#include "lvlm_probe/family.h"
#include "lvlm_probe/image.h"
#include "test_util.h"

namespace lvlm {
namespace {

TEST(Families, FoundByArchitectureAndPreset) {
  ASSERT_NE(find_family("LlavaForConditionalGeneration"), nullptr);
  EXPECT_EQ(find_family("LlavaForConditionalGeneration")->name(), "llava");
  EXPECT_EQ(find_family("LlavaLlamaForCausalLM"), nullptr);
  EXPECT_EQ(&family_of_model(test::tiny_model()), find_family("LlavaForConditionalGeneration"));
  EXPECT_EQ(family_of_preset("llava-1.5-7b-shape").name(), "llava");
  EXPECT_EQ(make_model_presets(), (std::vector<std::string>{"tiny", "bench", "llava-1.5-7b-shape", "qwen2-vl-tiny",
                                                           "qwen2.5-vl-tiny", "qwen2-vl-2b-shape", "qwen2.5-vl-7b-shape"}));
  try {
    family_of_preset("qwen-huge");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--preset: 'qwen-huge' is not one of tiny, bench, llava-1.5-7b-shape, qwen2-vl-tiny, qwen2.5-vl-tiny, "
            "qwen2-vl-2b-shape, qwen2.5-vl-7b-shape");
  }
}

TEST(Families, UnknownArchitectureNamesTheSupportedOnes) {
  test::TempDir dir;
  std::ofstream(dir.file("config.json")) << R"({"architectures": ["Qwen9VLForConditionalGeneration"]})";
  EXPECT_EQ(test::input_error_of([&] { family_of_model(dir.path()); }),
            dir.file("config.json") + ": architecture 'Qwen9VLForConditionalGeneration' is not supported "
                                      "(supported: LlavaForConditionalGeneration, Qwen2VLForConditionalGeneration, "
                                      "Qwen2_5_VLForConditionalGeneration)");
  EXPECT_EQ(test::input_error_of([&] { describe_model(dir.path()); }),
            test::input_error_of([&] { family_of_model(dir.path()); }));
}

TEST(LlavaProcessor, FixturePixelsAndPromptIds) {
  const auto processor = family_of_model(test::tiny_model()).processor(test::tiny_model());
  const ImageU8 image = decode_image(test::tiny_model() + "/test.png");
  const PreparedImage p = processor->prepare_image(image, {}, "test.png");
  const PreprocessResult want =
      preprocess_clip(image, load_preprocessor_config(test::tiny_model() + "/preprocessor_config.json"));
  EXPECT_EQ(p.shape, (std::vector<int64_t>{1, 3, 32, 32}));
  EXPECT_EQ(p.pixels, want.pixels);
  EXPECT_TRUE(p.grid_thw.empty());
  EXPECT_EQ(p.num_tokens, 16);
  EXPECT_EQ(p.geometry.num_tokens(), 16);
  EXPECT_EQ(p.geometry.grid_rows, 4);
  EXPECT_FALSE(p.geometry.leading_cls);

  EXPECT_EQ(processor->default_template(), "llava_v1");
  ASSERT_NE(processor->tokenizer(), nullptr);
  const Tokenizer tok = Tokenizer::load(test::tiny_model());
  EXPECT_EQ(processor->prompt_ids("llava-hf", "What is it?", &p),
            build_prompt_ids(tok, PromptTemplate::llava_hf, "What is it?", 510));
  EXPECT_EQ(processor->prompt_text("raw", "<image> hi"), "<image> hi");
  EXPECT_THROW(processor->check_template("chatml"), UsageError);
}

// A 64x32 image through the fixture's CLIP settings (shortest edge 32, crop 32x32, patch 8).
ImageU8 wide_image() {
  ImageU8 image;
  image.width = 64, image.height = 32;
  image.rgb.assign(64 * 32 * 3, 200);
  return image;
}

void expect_box(const ImageGeometry::Box& b, double left, double top, double right, double bottom) {
  EXPECT_DOUBLE_EQ(b.left, left);
  EXPECT_DOUBLE_EQ(b.top, top);
  EXPECT_DOUBLE_EQ(b.right, right);
  EXPECT_DOUBLE_EQ(b.bottom, bottom);
}

TEST(LlavaProcessor, TokenBoxesThroughCentreCrop) {
  const auto processor = family_of_model(test::tiny_model()).processor(test::tiny_model());
  const ImageGeometry g = processor->prepare_image(wide_image(), {}, "wide").geometry;
  // Resized 64x32 (no change), crop columns 16..47: input x maps to original x + 16.
  expect_box(g.token_box(0), 16, 0, 24, 8);
  expect_box(g.token_box(5), 24, 8, 32, 16);
  expect_box(g.token_box(15), 40, 24, 48, 32);
  EXPECT_THROW(g.token_box(16), std::out_of_range);
}

TEST(LlavaProcessor, TokenBoxesThroughPadToSquare) {
  const auto processor = family_of_model(test::tiny_model()).processor(test::tiny_model());
  ImageOptions pad;
  pad.pad_square = true;
  const ImageGeometry g = processor->prepare_image(wide_image(), pad, "wide").geometry;
  // Padded to 64x64 (16 rows above), resized to 32x32: input (x, y) is original (2x, 2y - 16).
  expect_box(g.token_box(0), 0, 0, 16, 0);  // a cell of padding only
  expect_box(g.token_box(5), 16, 0, 32, 16);
  expect_box(g.token_box(11), 48, 16, 64, 32);
}

TEST(ImageGeometry, LeadingClsCoversTheCroppedInput) {
  // LLaVA-1.5 on a 640x480 photo: shortest edge 336 -> 448x336, crop 56 columns each side,
  // 24x24 patches of 14 px; "full" keeps CLS first.
  ImageGeometry g;
  g.original_width = 640, g.original_height = 480, g.input_width = g.input_height = 336;
  g.scale_x = g.scale_y = 640.0 / 448;
  g.offset_x = 56 * g.scale_x;
  g.grid_rows = g.grid_cols = 24;
  g.leading_cls = true;
  EXPECT_EQ(g.num_tokens(), 577);
  expect_box(g.token_box(0), 80, 0, 560, 480);
  expect_box(g.token_box(1), 80, 0, 100, 20);
  expect_box(g.token_box(576), 540, 460, 560, 480);
}

}  // namespace
}  // namespace lvlm
