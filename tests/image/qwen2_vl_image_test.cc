// Qwen2VLImageProcessor in C++ (src/image/qwen2_vl_image.cc) against transformers 4.57.6 on the
// two Qwen fixtures (scripts/reference/make_qwen_fixtures.py): smart_resize on sizes that hit
// every branch, the pixel values of every reference case (Pillow-exact resize: equal to the
// float32 bit), image_grid_thw, and the config reader's refusals.
#include <gtest/gtest.h>

#include <cstring>

#include "../../src/image/qwen2_vl_image.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm::test {
namespace {

class QwenImage : public ::testing::TestWithParam<const char*> {
 protected:
  std::string dir() const { return data_path(GetParam()); }
};

TEST_P(QwenImage, SmartResizeEqualsTransformersOnEveryBranch) {
  const Json table = read_json_file(dir() + "/smart_resize.json");
  const Qwen2VLImageConfig config = load_qwen2_vl_image_config(dir() + "/preprocessor_config.json");
  EXPECT_EQ(config.min_pixels, table["min_pixels"].get<int64_t>());
  EXPECT_EQ(config.max_pixels, table["max_pixels"].get<int64_t>());
  for (const Json& row : table["sizes"]) {
    const int h = row["height"], w = row["width"];
    if (row.contains("error")) {
      EXPECT_NE(input_error_of([&] { smart_resize(h, w, 28, config.min_pixels, config.max_pixels, "img.png"); })
                    .find("img.png: aspect ratio"),
                std::string::npos);
      continue;
    }
    const auto got = smart_resize(h, w, 28, config.min_pixels, config.max_pixels);
    EXPECT_EQ(got[0], row["resized"][0].get<int>()) << h << "x" << w;
    EXPECT_EQ(got[1], row["resized"][1].get<int>()) << h << "x" << w;
  }
}

TEST_P(QwenImage, PixelValuesAndGridEqualTransformers) {
  const Json ref = read_json_file(dir() + "/reference.json");
  const Qwen2VLImageConfig config = load_qwen2_vl_image_config(dir() + "/preprocessor_config.json");
  const auto file = SafetensorsFile::open(dir() + "/reference_pixels.safetensors");
  for (const Json& c : ref["cases"]) {
    const std::string image = c["image"];
    const Qwen2VLPixels got = preprocess_qwen2_vl(decode_image(data_path("images/" + image)), config);
    EXPECT_EQ(std::vector<int64_t>(got.grid_thw.begin(), got.grid_thw.end()), c["image_grid_thw"].get<std::vector<int64_t>>());
    EXPECT_EQ(got.num_image_tokens(config.merge_size), c["num_image_tokens"].get<int64_t>());
    const auto shape = c["pixel_values"]["shape"].get<std::vector<int64_t>>();
    ASSERT_EQ((std::vector<int64_t>{got.rows, got.cols}), shape) << image;
    const TensorView* want = nullptr;
    for (const auto& t : file->tensors())
      if (t.name == c["pixel_values_key"]) want = &t;
    ASSERT_NE(want, nullptr);
    const std::vector<float> values = tensor_as_f32(*want);
    ASSERT_EQ(values.size(), got.pixels.size());
    size_t differing = 0;
    for (size_t i = 0; i < values.size(); ++i) differing += std::memcmp(&values[i], &got.pixels[i], sizeof(float)) != 0;
    EXPECT_EQ(differing, 0u) << image << ": float32 values differing from transformers'";
    EXPECT_EQ(sha256_hex(got.pixels.data(), got.pixels.size() * sizeof(float)),
              c["pixel_values"]["sha256_f32"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QwenImage, ::testing::Values("tiny-qwen2-vl", "tiny-qwen2.5-vl"));

TEST(QwenImage, PatchRowsComeInMergeGroupOrderWithTheFrameRepeated) {
  // A 56x28 (w x h) image whose pixel (x, y) has red = x, green = y: 2x4 patches of 14, merge 2.
  ImageU8 img{56, 28, {}};
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 56; ++x) img.rgb.insert(img.rgb.end(), {uint8_t(x), uint8_t(y), 0});
  Qwen2VLImageConfig c;
  c.do_resize = c.normalization.do_rescale = c.normalization.do_normalize = false;
  const Qwen2VLPixels p = preprocess_qwen2_vl(img, c);
  ASSERT_EQ(p.rows, 8);
  ASSERT_EQ(p.cols, 3 * 2 * 14 * 14);
  EXPECT_EQ(p.grid_thw, (std::array<int64_t, 3>{1, 2, 4}));
  // Rows: merge group (0,0) holds patches (row 0, col 0), (0, 1), (1, 0), (1, 1); group (0,1) next.
  const int top_left_x[] = {0, 14, 0, 14, 28, 42, 28, 42}, top_left_y[] = {0, 0, 14, 14, 0, 0, 14, 14};
  for (int r = 0; r < 8; ++r) {
    const float* row = &p.pixels[static_cast<size_t>(r) * p.cols];
    EXPECT_EQ(row[0], top_left_x[r]) << r;                  // red, frame 0, y 0, x 0
    EXPECT_EQ(row[13], top_left_x[r] + 13) << r;            // red, x 13
    EXPECT_EQ(row[196], top_left_x[r]) << r;                // red, frame 1: the same image
    EXPECT_EQ(row[2 * 196 + 14], top_left_y[r] + 1) << r;   // green, frame 0, y 1
    EXPECT_EQ(row[5 * 196 + 195], 0) << r;                  // blue, frame 1, last pixel
  }
}

TEST(QwenImage, ConfigRefusalsNameTheFileAndKey) {
  auto error = [](const std::string& json) {
    return input_error_of([&] { parse_qwen2_vl_image_config(json, "pp.json"); });
  };
  EXPECT_NE(error("[1]").find("pp.json: "), std::string::npos);
  EXPECT_NE(error(R"({"image_processor_type": "CLIPImageProcessor"})").find("image_processor_type"), std::string::npos);
  EXPECT_NE(error(R"({"max_pixels": 0})").find("max_pixels"), std::string::npos);
  EXPECT_NE(error(R"({"max_pixels": 1e30})").find("max_pixels"), std::string::npos);
  EXPECT_NE(error(R"({"patch_size": -14})").find("patch_size"), std::string::npos);
  EXPECT_NE(error(R"({"image_std": [0, 1, 1]})").find("image_std"), std::string::npos);
  EXPECT_NE(error(R"({"resample": 0})").find("resample"), std::string::npos);
  // A size dict is ignored, as transformers 4.57's __init__ replaces it by the defaults.
  const auto c = parse_qwen2_vl_image_config(R"({"size": {"shortest_edge": 1, "longest_edge": 2}})", "pp.json");
  EXPECT_EQ(c.min_pixels, 56 * 56);
  EXPECT_EQ(c.max_pixels, 28 * 28 * 1280);
  ImageU8 odd{30, 28, std::vector<uint8_t>(30 * 28 * 3)};
  Qwen2VLImageConfig no_resize;
  no_resize.do_resize = false;
  EXPECT_NE(input_error_of([&] { preprocess_qwen2_vl(odd, no_resize, "odd.png"); }).find("odd.png: "), std::string::npos);
}

}  // namespace
}  // namespace lvlm::test
