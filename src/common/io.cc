#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "lvlm_probe/common.h"

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

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // Unique per process and call, so concurrent writers (threads, Slurm tasks) never share a temp.
  static std::atomic<int> counter{0};
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw RuntimeFailure(path_ + ": cannot create: " + std::strerror(errno));
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
  if (::fsync(fd_) != 0) throw RuntimeFailure(path_ + ": fsync failed: " + std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    throw RuntimeFailure(path_ + ": cannot rename temp file into place: " + std::strerror(err));
  }
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
