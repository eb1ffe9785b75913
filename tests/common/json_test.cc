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

TEST(Json, DepthLimitIsExact) {
  JsonLimits limits;
  limits.max_depth = 3;
  EXPECT_NO_THROW(parse_json("[[[1]]]", "x.json", limits));
  EXPECT_NO_THROW(parse_json(R"({"a": {"b": [1]}, "c": [[2]]})", "x.json", limits));
  EXPECT_THROW(parse_json("[[[[1]]]]", "x.json", limits), InputError);
  EXPECT_THROW(parse_json(R"({"a": {"b": {"c": {}}}})", "x.json", limits), InputError);
}

// 100,000 sibling objects, and as many array elements, each checked after parsing. Linear parsing
// takes a fraction of a second; the callback parser used before took minutes (it rescanned the
// parent's members each time a nested value ended). scripts/bench-json.sh times a million.
TEST(Json, ManySiblingObjectsParseCompletely) {
  constexpr int kEntries = 100000;
  std::string object = "{", array = "[";
  for (int i = 0; i < kEntries; ++i) {
    const std::string n = std::to_string(i), sep = i ? "," : "";
    object += sep + "\"t" + n + "\":{\"dtype\":\"F32\",\"shape\":[" + n + "]}";
    array += sep + "{\"id\":" + n + "}";
  }
  const Json o = parse_json(object + "}", "many.json");
  ASSERT_EQ(o.size(), size_t{kEntries});
  for (int i = 0; i < kEntries; i += 9973) EXPECT_EQ(o.at("t" + std::to_string(i)).at("shape").at(0), i);
  const Json a = parse_json(array + "]", "many.json");
  ASSERT_EQ(a.size(), size_t{kEntries});
  for (int i = 0; i < kEntries; i += 9973) EXPECT_EQ(a[static_cast<size_t>(i)].at("id"), i);
}

TEST(Json, KeepingDropsOtherTopLevelKeysWhileParsing) {
  const std::string text = R"({"annotations": [{"images": 1}, [2, {"x": {}}]], "images": [{"id": 7}],
                              "info": "images", "n": 3, "deep": {"images": {"images": 4}}})";
  const Json j = parse_json_keeping(text, "coco.json", {"images", "n"});
  EXPECT_EQ(j, Json::parse(R"({"images": [{"id": 7}], "n": 3})"));
  JsonLimits limits;
  limits.max_depth = 2;  // the depth limit holds inside dropped values too
  EXPECT_THROW(parse_json_keeping(R"({"drop": [[[1]]], "images": []})", "coco.json", {"images"}, limits), InputError);
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
