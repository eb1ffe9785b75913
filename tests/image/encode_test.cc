// Images out (BMP, data URIs) and the mapping of preprocessed pixels back to the original image.
#include <gtest/gtest.h>

#include "lvlm_probe/image.h"

namespace lvlm {
namespace {

TEST(EncodeBmp, DecodesBackToTheSamePixels) {
  ImageU8 img;
  img.width = 3;  // rows of 9 bytes: padded to 12
  img.height = 2;
  for (int i = 0; i < 18; ++i) img.rgb.push_back(static_cast<uint8_t>(i * 13));
  const std::string bmp = encode_bmp(img);
  EXPECT_EQ(bmp.size(), 54u + 2 * 12);
  const ImageU8 back = decode_image_bytes(bmp, "encoded");
  EXPECT_EQ(back.width, 3);
  EXPECT_EQ(back.height, 2);
  EXPECT_EQ(back.rgb, img.rgb);
}

TEST(DataUri, Base64OfRfc4648Vectors) {
  EXPECT_EQ(data_uri("x/y", ""), "data:x/y;base64,");
  EXPECT_EQ(data_uri("x/y", "f"), "data:x/y;base64,Zg==");
  EXPECT_EQ(data_uri("x/y", "fo"), "data:x/y;base64,Zm8=");
  EXPECT_EQ(data_uri("x/y", "foo"), "data:x/y;base64,Zm9v");
  EXPECT_EQ(data_uri("x/y", "foobar"), "data:x/y;base64,Zm9vYmFy");
  EXPECT_EQ(data_uri("x/y", std::string("\xff\xfe", 2)), "data:x/y;base64,//4=");
}

ImageU8 blank(int w, int h) {
  ImageU8 img;
  img.width = w;
  img.height = h;
  img.rgb.assign(static_cast<size_t>(w) * h * 3, 128);
  return img;
}

ClipPreprocessConfig clip(int edge) {
  ClipPreprocessConfig c;
  c.shortest_edge = c.crop_height = c.crop_width = edge;
  return c;
}

TEST(OriginalBox, UndoesResizeAndCenterCrop) {
  // 64x40 -> shortest edge 32: 51x32, crop 32x32 from x = 9 (the tiny fixture's geometry).
  const PreprocessResult p = preprocess_clip(blank(64, 40), clip(32));
  EXPECT_EQ(p.crop_left, 9);
  const auto b = original_box(p, {0, 8, 8, 16});
  EXPECT_DOUBLE_EQ(b[0], 9 * 64.0 / 51);
  EXPECT_DOUBLE_EQ(b[1], 10.0);
  EXPECT_DOUBLE_EQ(b[2], 17 * 64.0 / 51);
  EXPECT_DOUBLE_EQ(b[3], 20.0);
  const auto whole = original_box(p, {0, 0, 32, 32});  // the crop drops 9 / 10 resized columns per side
  EXPECT_DOUBLE_EQ(whole[2], 41 * 64.0 / 51);
}

TEST(OriginalBox, UndoesPadSquareAndClipsToTheImage) {
  // 40x20 padded to 40x40 (image at y 10..30), resized to 20x20: scale 2, no crop.
  const PreprocessResult p = preprocess_clip(blank(40, 20), clip(20), /*pad_square=*/true);
  EXPECT_EQ(p.pad_top, 10);
  EXPECT_EQ(p.pad_left, 0);
  const auto top = original_box(p, {0, 0, 10, 5});  // all padding: clipped to an empty box at y = 0
  EXPECT_DOUBLE_EQ(top[1], 0.0);
  EXPECT_DOUBLE_EQ(top[3], 0.0);
  const auto mid = original_box(p, {10, 5, 20, 10});
  EXPECT_DOUBLE_EQ(mid[0], 20.0);
  EXPECT_DOUBLE_EQ(mid[1], 0.0);
  EXPECT_DOUBLE_EQ(mid[2], 40.0);
  EXPECT_DOUBLE_EQ(mid[3], 10.0);
}

TEST(OriginalBox, UndoesThePaddingOfACropLargerThanTheImage) {
  // No resize; a 4x4 image under an 8x8 crop sits at offset 2: crop_left = crop_top = -2.
  ClipPreprocessConfig c = clip(8);
  c.do_resize = false;
  const PreprocessResult p = preprocess_clip(blank(4, 4), c);
  EXPECT_EQ(p.crop_left, -2);
  const auto b = original_box(p, {2, 2, 4, 8});
  EXPECT_DOUBLE_EQ(b[0], 0.0);
  EXPECT_DOUBLE_EQ(b[2], 2.0);
  EXPECT_DOUBLE_EQ(b[3], 4.0);  // clipped
}

}  // namespace
}  // namespace lvlm
