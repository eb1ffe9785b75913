#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "lvlm_probe/common.h"
#include "output_files.h"

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

// --- the write side: AtomicFile, write_file_atomic (primitives in output_files.cc) ----------

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_ == "-") {
    to_stdout_ = true;
    return;
  }
  detail::check_replaceable(path_);
  fd_ = detail::create_temp_beside(path_, &tmp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::write(std::string_view bytes) {
  if (committed_) throw RuntimeFailure(path_ + ": write after commit");
  if (to_stdout_) stdout_bytes_.append(bytes);
  else detail::write_fd(fd_, bytes, path_);
}

void AtomicFile::finish() {
  if (committed_) throw RuntimeFailure(path_ + ": committed twice");
  committed_ = true;
  if (to_stdout_) return;
  detail::write_stage("sync", path_);
  if (::fsync(fd_) != 0) throw RuntimeFailure(path_ + ": fsync failed: " + std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw RuntimeFailure(path_ + ": write failed: " + std::strerror(errno));
}

void AtomicFile::commit() {
  finish();
  OutputSet* set = OutputSet::active();
  if (to_stdout_) {
    if (set) set->stage_stdout(std::move(stdout_bytes_));
    else detail::write_stdout(stdout_bytes_);
    return;
  }
  if (set) {
    set->stage(path_, std::exchange(tmp_, std::string()));
    return;
  }
  detail::move_into_place(tmp_, path_);
  tmp_.clear();
}

bool AtomicFile::commit_if_absent() {
  if (to_stdout_) throw RuntimeFailure("commit_if_absent: stdout is no file");
  finish();
  // link() never replaces (nor follows) what is at path_: EEXIST when another process came first.
  const bool created = ::link(tmp_.c_str(), path_.c_str()) == 0;
  const int err = errno;
  ::unlink(tmp_.c_str());
  tmp_.clear();
  if (!created && err != EEXIST) throw RuntimeFailure(path_ + ": cannot create: " + std::strerror(err));
  if (created) detail::fsync_directory_of(path_);
  return created;
}

void write_file_atomic(const std::string& path, std::string_view content) {
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
