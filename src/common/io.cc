#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "lvlm_probe/common.h"
#include "output_files.h"

namespace lvlm {

std::string read_file(const std::string& path) {
  if (is_directory(path)) throw InputError(path, "is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(path, "read failed");
  return ss.str();
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
  if (is_directory(path)) throw InputError(path, "is a directory, expected a file");
  auto too_big = [&](const std::string& size) {
    return InputError(path, "file of " + size + " bytes exceeds the limit of " + std::to_string(max_bytes) + " bytes");
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes)
    throw too_big(std::to_string(st.st_size));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::string s;
  if (S_ISREG(st.st_mode)) s.reserve(static_cast<size_t>(st.st_size));
  std::vector<char> buf(1 << 16);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    s.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (s.size() > max_bytes) throw too_big("more than " + std::to_string(max_bytes));
  }
  if (in.bad()) throw InputError(path, "read failed");
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
