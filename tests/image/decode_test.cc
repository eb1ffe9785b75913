// decode_image against PIL 9.4's Image.open(f).convert("RGB") on every image of
// tests/data/images/manifest.json (made by scripts/reference/make_image_refs.py): odd images of
// every kind, with PIL's RGB SHA-256 or the InputError we must give, and the 13 real photos.
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"
#include "image_manifest.h"
#include "test_util.h"

namespace lvlm {
namespace {

std::string rgb_sha256(const ImageU8& img) { return sha256_hex(img.rgb.data(), img.rgb.size()); }

struct ImageCase {
  std::string name;  // gtest-safe
  Json entry;
};

std::vector<ImageCase> image_cases() {
  std::vector<ImageCase> out;
  try {
    for (const Json& e : test::image_manifest()["images"]) {
      std::string name = e["file"].get<std::string>();
      std::replace_if(
          name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
      out.push_back({name, e});
    }
  } catch (const std::exception& err) {
    out.push_back({"manifest_unreadable", Json{{"error", err.what()}}});
  }
  return out;
}

class DecodeImageManifest : public ::testing::TestWithParam<ImageCase> {};

TEST_P(DecodeImageManifest, AsPil) {
  const Json& e = GetParam().entry;
  ASSERT_FALSE(e.contains("error")) << e["error"];
  const std::string path = test::data_path("images/" + e["file"].get<std::string>());
  SCOPED_TRACE(e["note"].get<std::string>());
  if (e["expect"] == "match") {
    ImageU8 img;
    ASSERT_NO_THROW(img = decode_image(path));
    EXPECT_EQ(img.width, e["pil"]["size"][0].get<int>());
    EXPECT_EQ(img.height, e["pil"]["size"][1].get<int>());
    EXPECT_EQ(rgb_sha256(img), e["pil"]["rgb_sha256"].get<std::string>()) << "PIL mode " << e["pil"]["mode"];
    return;
  }
  try {
    decode_image(path);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& err) {
    std::string msg = err.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;  // names the file first
    EXPECT_NE(msg.find(e["error_contains"].get<std::string>()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;  // one line
  }
}

INSTANTIATE_TEST_SUITE_P(Manifest, DecodeImageManifest, ::testing::ValuesIn(image_cases()),
                         [](const ::testing::TestParamInfo<ImageCase>& info) { return info.param.name; });

TEST(DecodeImage, BytesAndFileAgree) {
  const std::string path = test::data_path("images/odd/png_palette4_trns.png");
  EXPECT_EQ(decode_image_bytes(read_file(path), "x").rgb, decode_image(path).rgb);
}

TEST(DecodeImage, MissingFileNamesIt) {
  try {
    decode_image("/nonexistent/cat.jpg");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("/nonexistent/cat.jpg: ", 0), 0u) << e.what();
  }
}

TEST(DecodeImage, SniffsByContentNotExtension) {
  EXPECT_EQ(sniff_image_format(read_file(test::data_path("images/odd/jpeg_420.jpg"))), "JPEG");
  EXPECT_EQ(sniff_image_format(read_file(test::data_path("tiny-llava/test.png"))), "PNG");
  EXPECT_EQ(sniff_image_format("GIF89a...."), "GIF");
  EXPECT_EQ(sniff_image_format("BM"), "BMP");
  EXPECT_EQ(sniff_image_format(std::string_view("RIFF\4\0\0\0WEBPVP8 ", 16)), "WEBP");
  EXPECT_EQ(sniff_image_format("hello"), "");
  EXPECT_EQ(sniff_image_format(""), "");
}

TEST(DecodeImage, BombLimitIsConfigurable) {
  const std::string path = test::data_path("images/odd/jpeg_420.jpg");  // 37 x 29
  DecodeLimits tight;
  tight.max_pixels = 37 * 29 - 1;
  EXPECT_THROW(decode_image(path, tight), InputError);
  tight.max_pixels = 37 * 29;
  EXPECT_NO_THROW(decode_image(path, tight));
}

// libjpeg's "corrupt data" warnings reach the log once, and the recovered pixels are kept (the
// hash is checked by the manifest test).
TEST(DecodeImage, CorruptJpegDataIsAWarning) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(8);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  const std::string path = test::data_path("images/odd/jpeg_cut_with_eoi.jpg");
  EXPECT_NO_THROW(decode_image(path));
  EXPECT_NO_THROW(decode_image(test::data_path("images/odd/jpeg_420.jpg")));
  auto lines = sink->last_formatted();
  spdlog::set_default_logger(previous);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(path + ": damaged JPEG data: Corrupt JPEG data: premature end of data segment"),
            std::string::npos)
      << lines[0];
}

TEST(DecodeImage, UnsupportedFormatMessageSaysWhatToDo) {
  try {
    decode_image(test::data_path("images/odd/webp_lossless.webp"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported image format WEBP (lvlm-probe reads JPEG, PNG"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("convert it to PNG"), std::string::npos);
  }
}

// Cut and corrupted variants of every odd image: an image or an InputError, never a crash or
// another exception type (run under -DLVLM_SANITIZE=ON to check memory safety too).
TEST(DecodeImage, DamagedInputsNeverCrash) {
  DecodeLimits limits;
  limits.max_pixels = limits.warn_pixels = 1 << 20;  // a flipped header must not make us decode 100 MP
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);  // corrupt-JPEG warnings by the hundred
  for (const Json& e : test::image_manifest()["images"]) {
    const std::string file = e["file"].get<std::string>();
    if (file.rfind("odd/", 0) != 0) continue;
    const std::string bytes = read_file(test::data_path("images/" + file));
    std::vector<std::string> variants;
    for (size_t cut : {size_t{1}, size_t{3}, size_t{8}, size_t{13}, size_t{20}, size_t{33}, bytes.size() / 3,
                       bytes.size() / 2, bytes.size() - 1})
      if (cut < bytes.size()) variants.push_back(bytes.substr(0, cut));
    for (size_t step = 1; step < 24 && step < bytes.size(); step += 5) {
      std::string flipped = bytes;
      for (size_t i = step; i < flipped.size(); i += 23) flipped[i] = static_cast<char>(flipped[i] ^ (0x5A + step));
      variants.push_back(flipped);
    }
    for (const std::string& v : variants) {
      try {
        ImageU8 img = decode_image_bytes(v, file, limits);
        EXPECT_EQ(img.rgb.size(), static_cast<size_t>(img.width) * img.height * 3) << file;
      } catch (const InputError&) {
      } catch (const std::exception& other) {
        ADD_FAILURE() << file << " (" << v.size() << " bytes): " << other.what();
      }
    }
  }
  spdlog::set_level(level);
}

}  // namespace
}  // namespace lvlm
