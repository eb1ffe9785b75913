// The write side's safety rules (docs/hardening.md, "Outputs"): what may be replaced, how temp
// files are made, and OutputSet, which puts all outputs of a command in place together.
#include "output_files.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <set>

#include "lvlm_probe/common.h"

namespace lvlm {
namespace detail {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// 12 characters of [0-9A-Za-z] from the kernel's random source: 71 bits nobody can guess.
std::string random_suffix() {
  static const char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  unsigned char bytes[12];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    std::random_device device;
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(device());
  }
  std::string s;
  for (unsigned char b : bytes) s += kAlphabet[b % 62];
  return s;
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool exists_no_follow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void check_replaceable(const std::string& path, const std::string& flag) {
  const std::string who = flag.empty() ? "is " : flag + " names ";
  if (path.empty()) throw UsageError((flag.empty() ? "output" : flag) + ": the path is empty");
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return;  // absent: created; regular: replaced
  std::string hint;
  if (S_ISLNK(st.st_mode)) hint = " (name the file it points to)";
  else if (!S_ISDIR(st.st_mode)) hint = " (- writes to stdout)";
  throw UsageError(path + ": " + who + kind_of(st.st_mode) + ", not a regular file; refusing to replace it" + hint);
}

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

int create_temp_beside(const std::string& path, std::string* tmp) {
  write_stage("create", path);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = path + ".tmp." + random_suffix();
    int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno == ENAMETOOLONG) {  // a target name near NAME_MAX: a short name beside it
      name = parent_directory(path) + "/.tmp." + random_suffix();
      fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    }
    if (fd >= 0) {
      *tmp = name;
      write_stage("write", path);
      return fd;
    }
    if (errno != EEXIST) throw RuntimeFailure(path + ": cannot create: " + std::strerror(errno));
  }
  throw RuntimeFailure(path + ": cannot create a temp file beside it (100 names taken)");
}

void write_fd(int fd, std::string_view bytes, const std::string& name) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw RuntimeFailure(name + ": write failed: " + std::strerror(errno));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void move_into_place(const std::string& tmp, const std::string& path) {
  try {
    check_replaceable(path);  // again: the target may have changed while the file was written
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  write_stage("rename", path);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw RuntimeFailure(path + ": cannot rename temp file into place: " + std::strerror(err));
  }
  fsync_directory_of(path);
  write_stage("done", path);
}

void fsync_directory_of(const std::string& path) { fsync_directory(parent_directory(path)); }

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_stdout(std::string_view bytes) {
  flush_stdout();
  write_fd(STDOUT_FILENO, bytes, "stdout");
}

std::string resolve_output_path(const std::string& path) {
  const std::string dir = parent_directory(path), name = path.substr(path.find_last_of('/') + 1);
  char* real = ::realpath(dir.c_str(), nullptr);
  if (!real) {
    const int err = errno;
    if (err == ENOENT) throw InputError(path, "cannot be written: directory " + dir + " does not exist");
    throw InputError(path, "cannot be written: directory " + dir + ": " + std::strerror(err));
  }
  std::string resolved = real;
  std::free(real);
  return (resolved == "/" ? "" : resolved) + "/" + name;
}

}  // namespace detail

void flush_stdout() {
  errno = 0;
  std::cout.flush();
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout;
  if (failed) {
    const int err = errno;
    std::clearerr(stdout);
    std::cout.clear();
    throw RuntimeFailure(std::string("stdout: write failed") + (err ? std::string(": ") + std::strerror(err) : ""));
  }
}

// --- OutputSet ---------------------------------------------------------------------------------

namespace {
OutputSet* g_active = nullptr;
}

OutputSet::OutputSet() {
  if (g_active) throw RuntimeFailure("internal: an output set is already active");
  g_active = this;
}

OutputSet::~OutputSet() {
  for (const Staged& s : staged_)
    if (!s.tmp.empty()) ::unlink(s.tmp.c_str());
  if (g_active == this) g_active = nullptr;
}

OutputSet* OutputSet::active() { return g_active; }

void OutputSet::add_input(const std::string& path, const std::string& flag) {
  if (path.empty() || path == "-") return;
  add(Input{path, "", flag, false, nullptr});
}

void OutputSet::add_input_dir(const std::string& dir, const std::string& flag,
                              std::function<bool(const std::string&)> owns) {
  if (dir.empty()) return;
  add(Input{dir, "", flag, true, std::move(owns)});
}

void OutputSet::add(Input in) {
  char* real = ::realpath(in.path.c_str(), nullptr);
  if (!real) return;  // missing: its reader says so, with its own message
  in.resolved = real;
  std::free(real);
  for (const Output& out : outputs_) check_against(out, in);
  inputs_.push_back(std::move(in));
}

void OutputSet::add_output(const std::string& path, const std::string& flag) {
  if (path.empty()) return;
  if (path == "-") {
    for (const Output& other : outputs_)
      if (other.resolved == "-") throw UsageError("-: " + other.flag + " and " + flag + " both write to stdout");
    outputs_.push_back({path, "-", flag});
    return;
  }
  detail::check_replaceable(path, flag);
  const std::string name = path.substr(path.find_last_of('/') + 1);
  if (name.empty() || name == "." || name == "..")
    throw UsageError(path + ": " + flag + " names a directory, not a file");
  const Output out{path, detail::resolve_output_path(path), flag};
  const std::string dir = detail::parent_directory(out.resolved);
  if (::access(dir.c_str(), W_OK | X_OK) != 0)  // found now, not after minutes of model time
    throw RuntimeFailure(path + ": cannot be written: directory " + dir + ": " + std::strerror(errno));
  for (const Output& other : outputs_)
    if (other.resolved == out.resolved || (other.resolved != "-" && detail::same_file(other.resolved, out.resolved)))
      throw UsageError(path + ": " + flag + " is the same file as " + other.flag + "; each output needs a file of its own");
  for (const Input& in : inputs_) check_against(out, in);
  outputs_.push_back(out);
}

bool OutputSet::writes_stdout() const {
  if (has_stdout_bytes_) return true;
  for (const Output& out : outputs_)
    if (out.resolved == "-") return true;
  return false;
}

void OutputSet::check_against(const Output& out, const Input& in) {
  if (out.resolved == "-") return;
  const std::string refusal = "; an output may not replace an input";
  if (!in.directory) {
    if (out.resolved == in.resolved || detail::same_file(out.resolved, in.resolved))
      throw UsageError(out.path + ": " + out.flag + " is the same file as " + in.flag + refusal);
    return;
  }
  const std::string prefix = in.resolved == "/" ? "/" : in.resolved + "/";
  if (out.resolved.compare(0, prefix.size(), prefix) != 0) return;
  const std::string relative = out.resolved.substr(prefix.size());
  if (in.owns ? in.owns(relative) : detail::exists_no_follow(out.resolved))
    throw UsageError(out.path + ": " + out.flag + " would replace a file of " + in.flag + " " + in.path + refusal);
}

void OutputSet::stage(const std::string& path, std::string tmp) {
  try {
    const Output out{path, detail::resolve_output_path(path), "an output"};
    for (const Staged& other : staged_)
      if (detail::resolve_output_path(other.path) == out.resolved)
        throw UsageError(path + ": written twice by this command (two outputs name the same file?)");
    for (const Input& in : inputs_) check_against(out, in);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  staged_.push_back({path, std::move(tmp)});
}

std::string OutputSet::readable(const std::string& path) const {
  for (const Staged& s : staged_)
    if (s.path == path) return s.tmp;
  return path;
}

void OutputSet::stage_stdout(std::string bytes) {
  if (has_stdout_bytes_) throw UsageError("-: stdout written twice by this command (two outputs are -?)");
  stdout_bytes_ = std::move(bytes);
  has_stdout_bytes_ = true;
}

void OutputSet::commit() {
  if (g_active == this) g_active = nullptr;  // from here on, writes go straight to their files
  for (const Staged& s : staged_) detail::check_replaceable(s.path);  // before anything moves
  if (has_stdout_bytes_) detail::write_stdout(stdout_bytes_);
  std::vector<std::string> created;
  for (Staged& s : staged_) {
    const bool existed = detail::exists_no_follow(s.path);
    detail::write_stage("rename", s.path);
    if (::rename(s.tmp.c_str(), s.path.c_str()) != 0) {
      const int err = errno;
      for (const std::string& path : created) ::unlink(path.c_str());  // the new ones, at least
      throw RuntimeFailure(s.path + ": cannot rename temp file into place: " + std::strerror(err));
    }
    s.tmp.clear();
    detail::write_stage("done", s.path);
    if (!existed) created.push_back(s.path);
  }
  std::set<std::string> dirs;
  for (const Staged& s : staged_) dirs.insert(detail::parent_directory(s.path));
  for (const std::string& dir : dirs) detail::fsync_directory(dir);
}

}  // namespace lvlm
