#include <filesystem>

#include "lvlm_probe/common.h"
#include "test_util.h"

namespace lvlm {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 55 and 1000 bytes exercise the one- and two-block padding paths (values from Python hashlib).
  EXPECT_EQ(sha256_hex(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(AtomicWrite, ReplacesWholeFileAndLeavesNoTemp) {
  test::TempDir dir;
  std::string path = dir.file("report.json");
  write_file_atomic(path, "old");
  write_file_atomic(path, "new content");
  EXPECT_EQ(read_file(path), "new content");
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicWrite, AbandonedFileLeavesTargetUntouched) {
  test::TempDir dir;
  std::string path = dir.file("x");
  write_file_atomic(path, "keep");
  {
    AtomicFile f(path);
    f.write("partial");
  }  // no commit: as if an exception unwound mid-write
  EXPECT_EQ(read_file(path), "keep");
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(ReadFile, MissingFileNamesPath) {
  try {
    read_file("/nonexistent/dir/file.bin");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/file.bin"), std::string::npos);
    EXPECT_EQ(e.code(), ExitCode::bad_input);
  }
}

TEST(ParseIntList, RangesAndSingles) {
  EXPECT_EQ(parse_int_list("19-21,32,20", "--skip-layers"), (std::vector<int>{19, 20, 21, 32}));
  EXPECT_EQ(parse_int_list("4", "--x"), (std::vector<int>{4}));
  EXPECT_THROW(parse_int_list("", "--x"), UsageError);
  EXPECT_THROW(parse_int_list("3-1", "--x"), UsageError);
  EXPECT_THROW(parse_int_list("a,b", "--x"), UsageError);
  EXPECT_THROW(parse_int_list("1,,2", "--x"), UsageError);
  EXPECT_THROW(parse_int_list("2x", "--x"), UsageError);
}

}  // namespace
}  // namespace lvlm
