#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "lvlm_probe/batch.h"
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

// --- outputs: what may be replaced, how temp files are made (docs/hardening.md, "Outputs") -----

namespace fs = std::filesystem;

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The UsageError `write` throws, or "" when it throws none.
template <class F>
std::string usage_error(F&& write) {
  try {
    write();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(AtomicWrite, RefusesToReplaceWhatIsNotARegularFile) {
  test::TempDir dir;
  const std::string fifo = dir.file("fifo"), sub = dir.file("sub"), link = dir.file("link"),
                    dangling = dir.file("dangling"), victim = dir.file("victim"), sock = dir.file("sock");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_directory(sub);
  write_file_atomic(victim, "victim");
  fs::create_symlink(victim, link);
  fs::create_symlink(dir.file("nowhere"), dangling);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  const bool have_socket = sock.size() < sizeof addr.sun_path && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  const std::vector<std::string> before = names_in(dir.path());
  struct Case {
    std::string path, kind;
  };
  std::vector<Case> cases = {{fifo, "a FIFO"}, {sub, "a directory"}, {link, "a symbolic link"}, {dangling, "a symbolic link"}};
  if (have_socket) cases.push_back({sock, "a socket"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    const std::string error = usage_error([&] { write_file_atomic(c.path, "new"); });
    EXPECT_EQ(error, c.path + ": is " + c.kind + ", not a regular file; refusing to replace it" +
                         (c.kind == "a symbolic link" ? " (name the file it points to)"
                          : c.kind == "a directory"   ? ""
                                                      : " (- writes to stdout)"));
    EXPECT_THROW(AtomicFile{c.path}, UsageError);
  }
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was replaced";
  EXPECT_EQ(read_file(victim), "victim");
  EXPECT_EQ(names_in(dir.path()), before) << "a temp file was left";
}

TEST(AtomicWrite, TargetTurnedIntoAFifoWhileWritingIsRefusedAtCommit) {
  test::TempDir dir;
  const std::string path = dir.file("out.json");
  AtomicFile file(path);
  file.write("{}");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_THROW(file.commit(), UsageError);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.json"});
}

// A symbolic link planted where a predictable temp name would be ("<path>.tmp.<pid>.<n>") must
// not redirect the write: temp names are random and opened with O_EXCL|O_NOFOLLOW.
TEST(AtomicWrite, PlantedLinksAtPredictableTempNamesRedirectNothing) {
  test::TempDir dir;
  const std::string path = dir.file("report.json"), victim = dir.file("victim");
  write_file_atomic(victim, "victim");
  for (int n = 0; n < 200; ++n)
    fs::create_symlink(victim, path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(n));
  write_file_atomic(path, "report");
  write_file_atomic(path, "report 2");
  EXPECT_EQ(read_file(victim), "victim");
  EXPECT_EQ(read_file(path), "report 2");
}

TEST(AtomicWrite, TempNamesAreRandomAndBesideTheTarget) {
  test::TempDir dir;
  const std::string path = dir.file("r.json");
  AtomicFile a(path), b(path);
  const std::vector<std::string> names = names_in(dir.path());
  ASSERT_EQ(names.size(), 2u);
  for (const std::string& name : names) {
    EXPECT_EQ(name.rfind("r.json.tmp.", 0), 0u) << name;
    EXPECT_EQ(name.size(), std::string("r.json.tmp.").size() + 12) << name;
  }
  EXPECT_NE(names[0], names[1]);
}

TEST(AtomicWrite, NewFilesGetTheModeAnyNewFileGets) {
  test::TempDir dir;
  for (mode_t mask : {mode_t(0), mode_t(022), mode_t(077)}) {
    const mode_t old = ::umask(mask);
    const std::string path = dir.file("m" + std::to_string(mask));
    write_file_atomic(path, "x");
    ::umask(old);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask) << "umask " << std::oct << mask;
  }
}

TEST(AtomicWrite, CommitIfAbsentNeverReplaces) {
  test::TempDir dir;
  const std::string path = dir.file("run.json");
  AtomicFile first(path), second(path);
  first.write("first");
  second.write("second");
  EXPECT_TRUE(first.commit_if_absent());
  EXPECT_FALSE(second.commit_if_absent());
  EXPECT_EQ(read_file(path), "first");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"run.json"});
}

TEST(OutputSet, OutputsAppearTogetherAtCommit) {
  test::TempDir dir;
  const std::string a = dir.file("a.json"), b = dir.file("b.html");
  {
    OutputSet set;
    write_file_atomic(a, "report");
    AtomicFile page(b);
    page.write("page");
    page.commit();
    EXPECT_FALSE(file_exists(a));
    EXPECT_FALSE(file_exists(b));
    set.commit();
  }
  EXPECT_EQ(read_file(a), "report");
  EXPECT_EQ(read_file(b), "page");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"a.json", "b.html"}));
  EXPECT_EQ(OutputSet::active(), nullptr);
}

TEST(OutputSet, AFailureLeavesNoneOfTheOutputs) {
  test::TempDir dir;
  const std::string a = dir.file("a.json"), b = dir.file("b.html");
  write_file_atomic(a, "earlier report");
  try {
    OutputSet set;
    write_file_atomic(a, "new report");
    AtomicFile page(b);
    page.write("half a page");
    throw RuntimeFailure(b + ": write failed: No space left on device");
  } catch (const RuntimeFailure&) {
  }
  EXPECT_EQ(read_file(a), "earlier report");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.json"});
  EXPECT_EQ(OutputSet::active(), nullptr);
}

TEST(OutputSet, RefusesOutputsThatAreTheSameFile) {
  test::TempDir dir;
  const std::string x = dir.file("x.json");
  write_file_atomic(dir.file("y"), "y");
  fs::create_hard_link(dir.file("y"), dir.file("y-link"));
  OutputSet set;
  set.add_output(x, "--out");
  EXPECT_EQ(usage_error([&] { set.add_output(dir.path() + "/./x.json", "--html"); }),
            dir.path() + "/./x.json: --html is the same file as --out; each output needs a file of its own");
  set.add_output(dir.file("y"), "--dump-features");
  EXPECT_NE(usage_error([&] { set.add_output(dir.file("y-link"), "--out2"); }), "");
  set.add_output("-", "--out");
  EXPECT_EQ(usage_error([&] { set.add_output("-", "--html"); }), "-: --out and --html both write to stdout");
  EXPECT_TRUE(set.writes_stdout());
  EXPECT_NE(usage_error([&] { set.add_output(dir.path() + "/", "--out"); }).find("--out names a directory"), std::string::npos);
}

TEST(OutputSet, RefusesOutputsThatReplaceInputs) {
  test::TempDir dir;
  const std::string report = dir.file("report.json"), model = dir.file("model"), run = dir.file("run");
  write_file_atomic(report, "{}");
  fs::create_symlink(report, dir.file("report-link.json"));
  fs::create_directories(model + "/sub");
  write_file_atomic(model + "/sub/config.json", "{}");
  fs::create_directories(run + "/reports");
  write_file_atomic(run + "/index.jsonl", "");
  write_file_atomic(run + "/summary.json", "{}");
  OutputSet set;
  set.add_input(dir.file("report-link.json"), "the input");
  set.add_input_dir(model, "--model");
  set.add_input_dir(run + "/", "the run directory", is_run_dir_file);
  EXPECT_EQ(usage_error([&] { set.add_output(report, "--out"); }),
            report + ": --out is the same file as the input; an output may not replace an input");
  EXPECT_EQ(usage_error([&] { set.add_output(model + "/sub/config.json", "--out"); }),
            model + "/sub/config.json: --out would replace a file of --model " + model +
                "; an output may not replace an input");
  EXPECT_NE(usage_error([&] { set.add_output(run + "/index.jsonl", "--out"); }), "");
  EXPECT_NE(usage_error([&] { set.add_output(run + "/reports/x.json", "--out"); }), "");
  EXPECT_NE(usage_error([&] { set.add_output(run + "/index.3-of-4.jsonl", "--out"); }), "");
  EXPECT_EQ(usage_error([&] { set.add_output(run + "/summary.json", "--out"); }), "");  // docs/batch.md's own example
  EXPECT_EQ(usage_error([&] { set.add_output(model + "/new.json", "--html"); }), "");
  // Declared the other way round: an input added after the output it would be replaced by.
  OutputSet::active()->commit();
  OutputSet later;
  later.add_output(report, "--out");
  EXPECT_NE(usage_error([&] { later.add_input(report, "--image"); }), "");
}

TEST(OutputSet, AFileWrittenTwiceIsRefused) {
  test::TempDir dir;
  OutputSet set;
  write_file_atomic(dir.file("x"), "1");
  EXPECT_NE(usage_error([&] { write_file_atomic(dir.path() + "/./x", "2"); }), "");
  EXPECT_EQ(names_in(dir.path()).size(), 1u);  // the first temp file only
}

TEST(OutputSet, MissingOutputDirectoryIsNamedBeforeAnyWork) {
  OutputSet set;
  try {
    set.add_output("/nonexistent-dir/r.json", "--out");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent-dir/r.json: cannot be written: directory /nonexistent-dir does not exist");
  }
}

// stdout redirected to /dev/full: the bytes of "-" and anything printed must fail loudly.
TEST(Stdout, WriteErrorsAreErrors) {
  const int full = ::open("/dev/full", O_WRONLY);
  if (full < 0) GTEST_SKIP() << "no /dev/full";
  std::cout.flush();
  const int saved = ::dup(STDOUT_FILENO);
  ::dup2(full, STDOUT_FILENO);
  std::string direct, staged, printed;
  try {
    write_file_atomic("-", "report");
  } catch (const RuntimeFailure& e) {
    direct = e.what();
  }
  try {
    OutputSet set;
    write_file_atomic("-", "report");
    set.commit();
  } catch (const RuntimeFailure& e) {
    staged = e.what();
  }
  try {
    std::cout << "an answer\n";
    flush_stdout();
  } catch (const RuntimeFailure& e) {
    printed = e.what();
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ::close(full);
  EXPECT_EQ(direct, "stdout: write failed: No space left on device");
  EXPECT_EQ(staged, "stdout: write failed: No space left on device");
  EXPECT_EQ(printed, "stdout: write failed: No space left on device");
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
