#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "lvlm_probe/common.h"

namespace lvlm {

namespace {

// Why `st` is not a file lvlm-probe may read; "" when it is a regular file.
std::string not_regular(const struct stat& st) {
  const mode_t mode = st.st_mode;
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "is a directory, expected a file";
  const char* kind = S_ISFIFO(mode) ? "fifo" : S_ISCHR(mode) ? "character device" : S_ISBLK(mode) ? "block device"
                     : S_ISSOCK(mode) ? "socket" : "unknown kind";
  return std::string("not a regular file (") + kind + ")";
}

}  // namespace

RegularFile::RegularFile(const std::string& path) : path_(path) {
  // A device is refused before it is opened (opening some has effects); the fstat below settles
  // it for the file actually opened, should the path change in between.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !not_regular(st).empty()) throw InputError(path, not_regular(st));
  // O_NONBLOCK: opening a FIFO without a writer would block forever; for a regular file it
  // changes nothing. The check below and every later read or mmap use this one descriptor.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  const std::string problem = ::fstat(fd_, &st) != 0 ? std::string("cannot stat: ") + std::strerror(errno) : not_regular(st);
  if (!problem.empty()) {
    ::close(fd_);
    throw InputError(path, problem);
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

RegularFile::~RegularFile() { ::close(fd_); }

std::string read_file(const std::string& path, uint64_t max_bytes) {
  RegularFile file(path);
  auto too_big = [&](const std::string& size) {
    return InputError(path, "file of " + size + " bytes exceeds the limit of " + std::to_string(max_bytes) + " bytes");
  };
  // The size decides before any byte is read (a sparse file costs nothing to refuse); the loop
  // still stops at the limit, since a file may grow while it is read (and /proc reports size 0).
  if (file.size() > max_bytes) throw too_big(std::to_string(file.size()));
  std::string s;
  s.reserve(static_cast<size_t>(file.size()));
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(file.fd(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw InputError(path, std::string("read failed: ") + std::strerror(errno));
    if (n == 0) break;
    s.append(buf.data(), static_cast<size_t>(n));
    if (s.size() > max_bytes) throw too_big("more than " + std::to_string(max_bytes));
  }
  return s;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || (!name.empty() && name.front() == '/')) return name;
  if (name.empty()) return dir;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

namespace {

void write_all(int fd, std::string_view content, const std::string& path) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw RuntimeFailure(path + ": write failed: " + std::strerror(errno));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// Test-only hook (docs/hardening.md, "The test suite on any CPU and under any load"): with
// LVLM_PROBE_TEST_WRITE_STAGES=<log>, the process appends "<stage> <path>" to <log> and stops
// itself (SIGSTOP) before each stage of an atomic write (create, write, sync, rename) and once the
// file is in place (done), so that a test can SIGKILL it at a known stage instead of at a moment of
// the clock.
void write_stage(const char* stage, const std::string& path) {
  static const char* const log = std::getenv("LVLM_PROBE_TEST_WRITE_STAGES");
  if (log == nullptr || *log == '\0') return;
  const std::string line = std::string(stage) + " " + path + "\n";
  const int fd = ::open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
  }
  ::raise(SIGSTOP);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // Unique per process and call, so concurrent writers (threads, Slurm tasks) never share a temp.
  static std::atomic<int> counter{0};
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  write_stage("create", path_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw RuntimeFailure(path_ + ": cannot create: " + std::strerror(errno));
  write_stage("write", path_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::write(std::string_view bytes) {
  if (fd_ < 0) throw RuntimeFailure(path_ + ": write after commit");
  write_all(fd_, bytes, path_);
}

void AtomicFile::commit() {
  if (fd_ < 0) throw RuntimeFailure(path_ + ": committed twice");
  write_stage("sync", path_);
  if (::fsync(fd_) != 0) throw RuntimeFailure(path_ + ": fsync failed: " + std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  write_stage("rename", path_);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    throw RuntimeFailure(path_ + ": cannot rename temp file into place: " + std::strerror(err));
  }
  write_stage("done", path_);
}

void write_file_atomic(const std::string& path, std::string_view content) {
  if (path == "-") {
    std::cout.write(content.data(), static_cast<std::streamsize>(content.size()));
    std::cout.flush();
    return;
  }
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

std::string int_list_text(const std::vector<int>& values) {
  std::string out;
  for (size_t i = 0; i < values.size();) {
    size_t j = i;
    while (j + 1 < values.size() && values[j + 1] == values[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(values[i]) + (j > i ? "-" + std::to_string(values[j]) : "");
    i = j + 1;
  }
  return out;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& option) {
  std::vector<int> out;
  auto bad = [&](const std::string& why) {
    return UsageError(option + ": '" + text + "' is not a list like 19-30,32 (" + why + ")");
  };
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) throw bad("empty item");
    size_t dash = item.find('-', 1);
    try {
      size_t used = 0;
      int lo = std::stoi(item.substr(0, dash), &used);
      if (used != (dash == std::string::npos ? item.size() : dash)) throw bad("not a number: " + item);
      int hi = lo;
      if (dash != std::string::npos) {
        std::string rest = item.substr(dash + 1);
        hi = std::stoi(rest, &used);
        if (used != rest.size()) throw bad("not a number: " + item);
      }
      if (hi < lo) throw bad("range runs backwards: " + item);
      if (hi - lo > 100000) throw bad("range too long: " + item);
      for (int v = lo; v <= hi; ++v) out.push_back(v);
    } catch (const std::logic_error&) {
      throw bad("not a number: " + item);
    }
  }
  if (out.empty()) throw bad("empty");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace lvlm
