#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm {
namespace {

TEST(Json, ErrorsNameTheOrigin) {
  try {
    parse_json("{\"a\": ", "cfg/config.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cfg/config.json: invalid JSON", 0), 0u) << e.what();
  }
}

TEST(Json, DepthLimit) {
  std::string deep(1000, '[');
  deep += std::string(1000, ']');
  try {
    parse_json(deep, "x.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 64"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(parse_json("[[[1]]]", "x.json"));
}

TEST(Json, SizeLimit) {
  JsonLimits limits;
  limits.max_bytes = 10;
  EXPECT_THROW(parse_json("[1,2,3,4,5,6,7]", "x.json", limits), InputError);
}

TEST(Json, TypedGetters) {
  Json j = parse_json(R"({"n": 4, "f": 2.0, "g": 2.5, "s": "x", "z": null})", "c.json");
  EXPECT_EQ(json_get<int>(j, "n", 0, "c.json"), 4);
  EXPECT_EQ(json_get<int>(j, "f", 0, "c.json"), 2);  // Python's 2.0 for an integer
  EXPECT_EQ(json_get<int>(j, "missing", 7, "c.json"), 7);
  EXPECT_EQ(json_get<int>(j, "z", 7, "c.json"), 7);  // null means "use the default"
  EXPECT_DOUBLE_EQ(json_get<double>(j, "n", 0.0, "c.json"), 4.0);
  try {
    json_get<int>(j, "g", 0, "c.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "c.json: key 'g': expected an integer, found a number");
  }
  EXPECT_THROW(json_get<int>(j, "s", 0, "c.json"), InputError);
  EXPECT_THROW(json_require<std::string>(j, "nope", "c.json"), InputError);
  EXPECT_THROW(json_get<int>(parse_json(R"({"n": 99999999999})", "c"), "n", 0, "c"), InputError);
}

TEST(Json, DumpKeepsNumberArraysOnOneLine) {
  OrderedJson j;
  j["schema"] = "s";
  j["a"] = {1, 2, 3};
  j["nan"] = std::nan("");
  std::string text = dump_json(j);
  EXPECT_EQ(text, "{\n  \"schema\": \"s\",\n  \"a\": [1,2,3],\n  \"nan\": null\n}\n");
  EXPECT_EQ(parse_json(text, "x")["a"][2], 3);
}

}  // namespace
}  // namespace lvlm
