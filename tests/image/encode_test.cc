// Images out: BMP and data URIs.
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

}  // namespace
}  // namespace lvlm
