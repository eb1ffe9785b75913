// preprocess_clip and load_preprocessor_config against transformers 4.40.2's
// CLIPImageProcessor: the tiny fixture's reference.json, the real photos at LLaVA-1.5's 336 px
// (with and without expand2square), and the size / center-crop rules on edge cases.
#include <cmath>

#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"
#include "image_manifest.h"
#include "test_util.h"

namespace lvlm {
namespace {

std::string sha_of(const std::vector<float>& v) { return sha256_hex(v.data(), v.size() * sizeof(float)); }
std::string sha_of(const ImageU8& img) { return sha256_hex(img.rgb.data(), img.rgb.size()); }

ClipPreprocessConfig llava15_config() {  // openai/clip-vit-large-patch14-336
  ClipPreprocessConfig c;
  c.shortest_edge = 336;
  c.crop_height = c.crop_width = 336;
  return c;
}

TEST(Preprocess, FixtureReference) {
  const Json ref = read_json_file(test::tiny_model() + "/reference.json")["image"];
  const ClipPreprocessConfig cfg = load_preprocessor_config(test::tiny_model() + "/preprocessor_config.json");
  const ImageU8 img = decode_image(test::tiny_model() + "/" + ref["file"].get<std::string>());
  EXPECT_EQ(img.width, ref["size_wh"][0].get<int>());
  EXPECT_EQ(img.height, ref["size_wh"][1].get<int>());

  const PreprocessResult r = preprocess_clip(img, cfg);
  const Json& pre = ref["preprocess"];
  EXPECT_EQ(r.resized_width, pre["resized_wh"][0].get<int>());
  EXPECT_EQ(r.resized_height, pre["resized_wh"][1].get<int>());
  EXPECT_EQ(r.crop_top, pre["crop_top_left"][0].get<int>());
  EXPECT_EQ(r.crop_left, pre["crop_top_left"][1].get<int>());
  EXPECT_EQ(r.height, pre["crop_hw"][0].get<int>());
  EXPECT_EQ(r.width, pre["crop_hw"][1].get<int>());
  EXPECT_EQ(sha_of(r.cropped), ref["cropped_uint8_hwc_sha256"].get<std::string>());
  for (size_t i = 0; i < ref["cropped_uint8_hwc_first"].size(); ++i)
    EXPECT_EQ(r.cropped.rgb[i], ref["cropped_uint8_hwc_first"][i].get<int>()) << i;

  const Json& pv = ref["pixel_values"];
  EXPECT_EQ(pv["shape"], Json({1, 3, r.height, r.width}));
  ASSERT_EQ(r.pixels.size(), static_cast<size_t>(3 * r.height * r.width));
  for (size_t i = 0; i < pv["first"].size(); ++i)  // float32 values: exact
    EXPECT_EQ(r.pixels[i], static_cast<float>(pv["first"][i].get<double>())) << i;
  double sum = 0, sq = 0;
  for (float v : r.pixels) sum += v, sq += double{v} * v;
  EXPECT_NEAR(sum, pv["sum"].get<double>(), 1e-9 * r.pixels.size());  // summation order only
  EXPECT_NEAR(std::sqrt(sq), pv["l2"].get<double>(), 1e-9 * r.pixels.size());
  EXPECT_EQ(sha_of(r.pixels), pv["sha256_f32"].get<std::string>());
}

TEST(Preprocess, PhotosAsLlava15) {
  int photos = 0;
  for (const Json& e : test::image_manifest()["images"]) {
    if (!e.contains("clip336")) continue;
    SCOPED_TRACE(e["file"].get<std::string>());
    ++photos;
    const ImageU8 img = decode_image(test::data_path("images/" + e["file"].get<std::string>()));
    for (bool pad : {false, true}) {
      const Json& ref = e[pad ? "clip336_pad_square" : "clip336"];
      const PreprocessResult r = preprocess_clip(img, llava15_config(), pad);
      EXPECT_EQ(r.resized_width, ref["resized_wh"][0].get<int>()) << "pad " << pad;
      EXPECT_EQ(r.resized_height, ref["resized_wh"][1].get<int>()) << "pad " << pad;
      EXPECT_EQ(sha_of(r.cropped), ref["cropped_sha256"].get<std::string>()) << "pad " << pad;
      EXPECT_EQ(Json({3, r.height, r.width}), ref["pixel_values_shape"]);
      EXPECT_EQ(sha_of(r.pixels), ref["pixel_values_sha256"].get<std::string>()) << "pad " << pad;
    }
  }
  EXPECT_EQ(photos, 13);
}

TEST(Preprocess, OutputSizeRule) {
  for (const Json& c : test::image_manifest()["transforms"]["output_size"]) {
    auto wh = shortest_edge_size(c["wh"][0].get<int>(), c["wh"][1].get<int>(), c["shortest_edge"].get<int>());
    EXPECT_EQ(Json({wh[0], wh[1]}), c["out_wh"]) << c.dump();
  }
}

// transformers' center_crop zero-pads when the crop is larger, and can then return one pixel
// less than asked for: both reproduced.
TEST(Preprocess, CenterCropAndPadding) {
  ClipPreprocessConfig cfg;
  cfg.do_resize = cfg.do_rescale = cfg.do_normalize = false;
  for (const Json& c : test::image_manifest()["transforms"]["center_crop"]) {
    ImageU8 img{c["wh"][0].get<int>(), c["wh"][1].get<int>(), c["input"].get<std::vector<uint8_t>>()};
    ASSERT_EQ(sha_of(img), c["input_sha256"].get<std::string>());
    cfg.crop_width = c["crop_wh"][0].get<int>();
    cfg.crop_height = c["crop_wh"][1].get<int>();
    const PreprocessResult r = preprocess_clip(img, cfg);
    EXPECT_EQ(Json({r.width, r.height}), c["out_wh"]) << c["wh"] << " crop " << c["crop_wh"];
    EXPECT_EQ(sha_of(r.cropped), c["out_sha256"].get<std::string>()) << c["wh"] << " crop " << c["crop_wh"];
    for (size_t i = 0; i < r.pixels.size(); ++i)  // no rescale, no normalize: the uint8 values
      ASSERT_EQ(r.pixels[i], r.cropped.rgb[(i % (r.width * r.height)) * 3 + i / (r.width * r.height)]);
  }
}

TEST(Preprocess, ExpandToSquareCentresWithFloor) {
  ImageU8 wide{5, 2, std::vector<uint8_t>(5 * 2 * 3, 9)};
  ImageU8 sq = expand_to_square(wide, {1, 2, 3});
  ASSERT_EQ(sq.width, 5);
  ASSERT_EQ(sq.height, 5);
  for (int y = 0; y < 5; ++y)  // offset (5 - 2) // 2 = 1: rows 1 and 2 hold the image
    EXPECT_EQ(sq.rgb[static_cast<size_t>(y) * 15], (y == 1 || y == 2) ? 9 : 1) << y;
  ImageU8 tall{2, 3, std::vector<uint8_t>(2 * 3 * 3, 9)};
  ImageU8 sq2 = expand_to_square(tall, {1, 2, 3});
  EXPECT_EQ(sq2.rgb[0], 9);  // columns (3 - 2) // 2 = 0 and 1 hold the image
  EXPECT_EQ(sq2.rgb[3], 9);
  EXPECT_EQ(sq2.rgb[6], 1);
}

// ---- preprocessor_config.json ---------------------------------------------------------------
ClipPreprocessConfig parse(const std::string& text) { return parse_preprocessor_config(text, "pp.json"); }

std::string parse_error(const std::string& text) {
  try {
    parse(text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PreprocessConfig, DefaultsAreClipImageProcessors) {
  const ClipPreprocessConfig c = parse("{}");
  EXPECT_TRUE(c.do_resize && c.do_center_crop && c.do_rescale && c.do_normalize);
  EXPECT_EQ(c.shortest_edge, 224);
  EXPECT_EQ(c.crop_height, 224);
  EXPECT_EQ(c.crop_width, 224);
  EXPECT_EQ(c.resample, ResampleFilter::bicubic);
  EXPECT_EQ(c.rescale_factor, 1 / 255.0);
  EXPECT_EQ(c.image_mean[0], 0.48145466);
  EXPECT_EQ(c.image_std[2], 0.27577711);
  EXPECT_EQ(parse(R"({"image_mean": null, "size": null})").shortest_edge, 224);
}

TEST(PreprocessConfig, SizeForms) {
  ClipPreprocessConfig c = parse(R"({"size": 336, "crop_size": 300})");
  EXPECT_EQ(c.shortest_edge, 336);
  EXPECT_EQ(c.crop_height, 300);
  EXPECT_EQ(c.crop_width, 300);
  c = parse(R"({"size": [10, 20], "crop_size": {"height": 7, "width": 8}})");
  EXPECT_EQ(c.shortest_edge, 0);
  EXPECT_EQ(c.resize_height, 10);
  EXPECT_EQ(c.resize_width, 20);
  EXPECT_EQ(c.crop_height, 7);
  EXPECT_EQ(c.crop_width, 8);
  c = parse(R"({"size": {"shortest_edge": 50, "longest_edge": 90}, "resample": 2, "image_mean": 0.5})");
  EXPECT_EQ(c.shortest_edge, 50);
  EXPECT_EQ(c.resample, ResampleFilter::bilinear);
  EXPECT_EQ(c.image_mean[2], 0.5);
}

TEST(PreprocessConfig, ErrorsNameFileAndKey) {
  EXPECT_NE(parse_error(R"({"resample": 0})").find("pp.json: key 'resample': 0 is not supported"), std::string::npos);
  EXPECT_NE(parse_error(R"({"size": {"longest_edge": 5}})").find("pp.json: key 'size'"), std::string::npos);
  EXPECT_NE(parse_error(R"({"size": {"height": 5}})").find("pp.json: key 'size'"), std::string::npos);
  EXPECT_NE(parse_error(R"({"crop_size": {"shortest_edge": 5}})").find("pp.json: key 'crop_size'"), std::string::npos);
  EXPECT_NE(parse_error(R"({"size": {"height": -5, "width": 3}})").find("pp.json: key 'size.height'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"image_mean": [0.5, 0.5]})").find("pp.json: key 'image_mean': expected 3 numbers"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"image_std": [1, 0, 1]})").find("pp.json: key 'image_std'"), std::string::npos);
  std::string many = "0.5";
  for (int i = 0; i < 100; ++i) many += ", 0.5";
  const std::string long_mean = parse_error(R"({"image_mean": [)" + many + "]}");
  EXPECT_LT(long_mean.size(), 200u) << long_mean;  // the value is shown cut short
  EXPECT_NE(long_mean.find("..."), std::string::npos) << long_mean;
  EXPECT_NE(parse_error(R"({"do_resize": "yes"})").find("pp.json: key 'do_resize'"), std::string::npos);
  EXPECT_NE(parse_error(R"({"image_processor_type": "SiglipImageProcessor"})").find("key 'image_processor_type'"),
            std::string::npos);
  EXPECT_NE(parse_error("[1]").find("pp.json: expected a JSON object"), std::string::npos);
  try {
    load_preprocessor_config("/nonexistent/preprocessor_config.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("/nonexistent/preprocessor_config.json: ", 0), 0u);
  }
}

}  // namespace
}  // namespace lvlm
