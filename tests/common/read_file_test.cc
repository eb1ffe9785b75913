// Readers open only regular files (after following symlinks), through one descriptor, and read
// no more than their cap: a FIFO, a device or a sparse giant is refused before any read.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "fifo_util.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm {
namespace {

TEST(ReadFile, RefusesAFifoWithoutBlocking) {
  test::TempDir dir;
  test::Fifo fifo(dir.file("config.json"), "{}");
  const std::string refused = fifo.path() + ": not a regular file (fifo)";
  EXPECT_EQ(test::input_error_of([&] { read_file(fifo.path()); }), refused);
  EXPECT_EQ(test::input_error_of([&] { read_json_file(fifo.path()); }), refused);
  EXPECT_EQ(test::input_error_of([&] { decode_image(fifo.path()); }), refused);
  EXPECT_EQ(test::input_error_of([&] { SafetensorsFile::open(fifo.path()); }), refused);
}

TEST(ReadFile, RefusesDevicesAndDirectories) {
  EXPECT_EQ(test::input_error_of([] { read_file("/dev/zero"); }), "/dev/zero: not a regular file (character device)");
  EXPECT_EQ(test::input_error_of([] { read_file("/dev/null"); }), "/dev/null: not a regular file (character device)");
  test::TempDir dir;
  EXPECT_EQ(test::input_error_of([&] { read_file(dir.path()); }), dir.path() + ": is a directory, expected a file");
  EXPECT_EQ(test::input_error_of([&] { read_file(dir.file("absent")); }), dir.file("absent") + ": cannot open: No such file or directory");
}

TEST(ReadFile, FollowsSymlinksToWhatTheyName) {
  test::TempDir dir;
  std::ofstream(dir.file("real.json")) << "[1]";
  std::filesystem::create_symlink(dir.file("real.json"), dir.file("link.json"));
  EXPECT_EQ(read_file(dir.file("link.json")), "[1]");
  test::Fifo fifo(dir.file("pipe"), "[1]");
  std::filesystem::create_symlink(fifo.path(), dir.file("to-pipe.json"));
  EXPECT_EQ(test::input_error_of([&] { read_file(dir.file("to-pipe.json")); }), dir.file("to-pipe.json") + ": not a regular file (fifo)");
}

TEST(ReadFile, ASparseGiantIsRefusedBeforeAnyRead) {
  test::TempDir dir;
  const std::string png = dir.file("huge.png");
  std::ofstream(png) << std::string("\x89PNG\r\n\x1a\n", 8);
  ASSERT_EQ(::truncate(png.c_str(), 1536ll << 20), 0);  // 1.5 GiB, nearly all hole
  EXPECT_EQ(test::input_error_of([&] { decode_image(png); }),
            png + ": file of 1610612736 bytes exceeds the limit of 1073741824 bytes");
  EXPECT_EQ(test::input_error_of([&] { read_file(png); }), png + ": file of 1610612736 bytes exceeds the limit of 1073741824 bytes");
}

TEST(ReadFile, ReadsWhatProcReportsAsEmpty) {
  // /proc files report size 0; the read goes on to the end of what they produce.
  EXPECT_FALSE(read_file("/proc/self/status").empty());
}

}  // namespace
}  // namespace lvlm
