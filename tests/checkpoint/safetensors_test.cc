// The safetensors reader on the real fixture and on corrupt variants made from it here.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm {
namespace {

std::string fixture_file() { return test::tiny_model() + "/model.safetensors"; }

// Writes 8-byte length + header + data, the way a hostile or broken file might look.
std::string make_file(const test::TempDir& dir, const std::string& header, const std::string& data,
                      const std::string& name = "model.safetensors") {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header + data;
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string open_error(const std::string& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, OpensFixture) {
  auto file = SafetensorsFile::open(fixture_file());
  EXPECT_EQ(file->tensors().size(), 81u);
  const TensorView* embed = nullptr;
  for (const auto& t : file->tensors())
    if (t.name == "language_model.model.embed_tokens.weight") embed = &t;
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, DType::F32);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(embed->nbytes, 512u * 64 * 4);
}

TEST(Safetensors, RejectsBrokenFiles) {
  test::TempDir dir;
  const std::string f32x2 = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight(8, 'x');
  struct Case {
    std::string header, data, expect;
  };
  const std::vector<Case> cases = {
      {"{", eight, "invalid JSON"},
      {"[1]", "", "safetensors header is not a JSON object"},
      {R"({"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}})", eight, "unknown dtype 'F99'"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight, "8 bytes for dtype F32 and shape [3], expected 12"},
      {f32x2, "xxxx", "ends at byte 8 of the data section, which has only 4 bytes (truncated file?)"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, "overlaps another tensor's bytes"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight, "bytes 0..4 of the data section belong to no tensor"},
      {f32x2, eight + "tail", "4 trailing bytes after the last tensor"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight, "overflows"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, "expected a non-negative integer"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight, "data_offsets end before begin"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", eight, "'data_offsets' must be [begin, end]"},
      {R"({"a":[[[[[[[[[[1]]]]]]]]]]})", "", "nested deeper than 8 levels"},
  };
  for (const auto& c : cases) {
    const std::string path = make_file(dir, c.header, c.data);
    const std::string err = open_error(path);
    EXPECT_EQ(err.rfind(path + ": ", 0), 0u) << "message must start with the path: " << err;
    EXPECT_NE(err.find(c.expect), std::string::npos) << "header " << c.header << " gave: " << err;
  }
}

TEST(Safetensors, RejectsTruncatedAndLyingLengths) {
  test::TempDir dir;
  const std::string bytes = read_file(fixture_file());
  const std::string cut = dir.file("cut.safetensors");
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  EXPECT_NE(open_error(cut).find("truncated file?"), std::string::npos) << open_error(cut);
  const std::string tiny = dir.file("tiny.safetensors");
  std::ofstream(tiny, std::ios::binary) << "abc";
  EXPECT_NE(open_error(tiny).find("too short for a safetensors file (3 bytes)"), std::string::npos);
  std::string lying = bytes;
  uint64_t huge = 1ull << 40;
  std::memcpy(lying.data(), &huge, 8);
  const std::string liar = dir.file("liar.safetensors");
  std::ofstream(liar, std::ios::binary) << lying;
  EXPECT_NE(open_error(liar).find("exceeds 100 MB"), std::string::npos) << open_error(liar);
  huge = 5000000;
  std::memcpy(lying.data(), &huge, 8);
  std::ofstream(liar, std::ios::binary) << lying;
  EXPECT_NE(open_error(liar).find("runs past the end"), std::string::npos) << open_error(liar);
  EXPECT_NE(open_error(dir.file("absent.safetensors")).find("cannot open: No such file"), std::string::npos);
}

TEST(Safetensors, WriteRoundTrip) {
  test::TempDir dir;
  std::vector<float> a = {1.5f, -2.0f, 3.25f};
  std::vector<uint16_t> b = {0x3f80, 0x4000};
  write_safetensors(dir.file("x.safetensors"),
                    {{"a", DType::F32, {3}, {reinterpret_cast<const char*>(a.data()), 12}},
                     {"b", DType::BF16, {1, 2}, {reinterpret_cast<const char*>(b.data()), 4}}},
                    {{"note", "hi"}});
  auto file = SafetensorsFile::open(dir.file("x.safetensors"));
  ASSERT_EQ(file->tensors().size(), 2u);
  const TensorView& ta = file->tensors()[0].name == "a" ? file->tensors()[0] : file->tensors()[1];
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ta.data) % 8, 0u);  // header padded to 8-byte alignment
  EXPECT_EQ(std::memcmp(ta.data, a.data(), 12), 0);
  EXPECT_EQ(file->metadata(), (std::map<std::string, std::string>{{"note", "hi"}}));
  EXPECT_THROW(write_safetensors(dir.file("y.safetensors"), {{"a", DType::F32, {4}, {"abc", 3}}}), RuntimeFailure);
  EXPECT_FALSE(file_exists(dir.file("y.safetensors")));
}

// The format's metadata holds strings only; anything else in it is skipped, not an error.
TEST(Safetensors, MetadataKeepsItsStrings) {
  std::map<std::string, std::string> metadata;
  const auto entries = parse_safetensors_header(
      R"({"__metadata__": {"format": "pt", "n": 3, "list": ["a"]}, "t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
      4, "m.safetensors", &metadata);
  EXPECT_EQ(entries.size(), 1u);
  EXPECT_EQ(metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
}

// Splits the fixture into two shards with an index, as save_pretrained(max_shard_size=...) does.
void make_sharded(const test::TempDir& dir) {
  auto whole = SafetensorsFile::open(fixture_file());
  std::vector<TensorToWrite> first, second;
  Json index = {{"metadata", {{"total_size", 909568}}}, {"weight_map", Json::object()}};
  for (const auto& t : whole->tensors()) {
    const bool one = t.name.rfind("language_model.", 0) == 0;
    (one ? first : second).push_back({t.name, t.dtype, t.shape, {reinterpret_cast<const char*>(t.data), t.nbytes}});
    index["weight_map"][t.name] = one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), first);
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), second);
  write_file_atomic(dir.file("model.safetensors.index.json"), index.dump());
}

TEST(WeightStore, ShardsEqualSingleFile) {
  test::TempDir dir;
  make_sharded(dir);
  WeightStore sharded = WeightStore::open(dir.path());
  WeightStore single = WeightStore::open(test::tiny_model());
  EXPECT_EQ(sharded.files().size(), 2u);
  ASSERT_EQ(sharded.all().size(), single.all().size());
  for (const auto& [name, t] : single.all()) {
    const TensorView* s = sharded.find(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->shape, t.shape);
    EXPECT_EQ(std::memcmp(s->data, t.data, t.nbytes), 0) << name;
  }
  EXPECT_EQ(sharded.parameter_count(), 909568u / 4);
}

TEST(WeightStore, BrokenShardIndex) {
  test::TempDir dir;
  make_sharded(dir);
  std::filesystem::remove(dir.file("model-00002-of-00002.safetensors"));
  try {
    WeightStore::open(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model-00002-of-00002.safetensors: cannot open"), std::string::npos) << e.what();
  }
  write_file_atomic(dir.file("model.safetensors.index.json"), R"({"weight_map": {"x": "../etc/passwd"}})");
  EXPECT_THROW(WeightStore::open(dir.path()), InputError);
  write_file_atomic(dir.file("model.safetensors.index.json"), R"({"weight_map": {}})");
  EXPECT_THROW(WeightStore::open(dir.path()), InputError);
}

TEST(WeightStore, ProblemsAreCollectedThenReportedTogether) {
  WeightStore store = WeightStore::open(test::tiny_model());
  EXPECT_NE(store.take("language_model.model.norm.weight", {64}), nullptr);
  EXPECT_EQ(store.take("language_model.model.norm.weight", {65}), nullptr);
  EXPECT_EQ(store.take("missing.weight", {1}), nullptr);
  EXPECT_EQ(store.take("optional.weight", {1}, Need::optional), nullptr);
  try {
    store.throw_if_problems();
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              test::tiny_model() + ": 2 problems with the weights: tensor 'language_model.model.norm.weight' in model.safetensors has shape "
                                   "[64], expected [65] from config.json; missing tensor 'missing.weight'");
  }
  EXPECT_EQ(store.unused().size(), 80u);
}

TEST(WeightStore, MissingDirectory) {
  try {
    WeightStore::open("/nonexistent/m");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/m: model directory does not exist");
  }
  test::TempDir dir;
  EXPECT_THROW(WeightStore::open(dir.path()), InputError);
}

}  // namespace
}  // namespace lvlm

namespace lvlm {
namespace {

// A shard truncated after it was mapped (replaced or cut while a long run reads it): touching a
// page past its new end is a bus error. It ends the process with one line naming the file and
// exit code 3, instead of a bare SIGBUS.
TEST(SafetensorsDeathTest, TruncatedWhileMappedNamesTheFile) {
  test::TempDir dir;
  const std::string copy = dir.file("model.safetensors");
  std::filesystem::copy_file(fixture_file(), copy);
  EXPECT_EXIT(
      {
        auto file = SafetensorsFile::open(copy);
        const TensorView* last = &file->tensors().front();
        for (const auto& t : file->tensors())
          if (t.data > last->data) last = &t;
        if (::truncate(copy.c_str(), 4096) != 0) std::exit(10);
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < last->nbytes; ++i) sum = static_cast<uint8_t>(sum + last->data[i]);
        std::exit(0);  // not reached: the read above faults
      },
      ::testing::ExitedWithCode(3),
      "error: " + copy + ": truncated while in use \\(bus error reading the memory-mapped weights\\)");
}

}  // namespace
}  // namespace lvlm
