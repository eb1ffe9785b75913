// Shared vocabulary of every module: typed errors with their exit codes, whole-file I/O
// with atomic replacement, SHA-256. Free of libtorch so parsers and the CLI stay light.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lvlm {

// Exit codes of the CLI (SPEC §4). The library throws; only tools/ maps them to exits.
enum class ExitCode : int { ok = 0, regression = 1, usage = 2, bad_input = 3, runtime = 4 };

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// A wrong option or combination of options.
struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::usage, m) {}
};
// A file that is missing, corrupt or unsupported. Messages start with the file's path.
struct InputError : Error {
  explicit InputError(const std::string& m) : Error(ExitCode::bad_input, m) {}
  InputError(const std::string& path, const std::string& problem)
      : Error(ExitCode::bad_input, path + ": " + problem) {}
};
// Out of memory, device failure, a write that failed.
struct RuntimeFailure : Error {
  explicit RuntimeFailure(const std::string& m) : Error(ExitCode::runtime, m) {}
};

// Whole file as bytes; InputError naming the path when it cannot be read.
std::string read_file(const std::string& path);
// Same, refusing files over `max_bytes` with InputError "<path>: file of N bytes exceeds the
// limit of M bytes" before reading them (regular files) or as soon as the limit is passed
// (pipes, /dev/zero): a hostile path cannot make lvlm-probe read without end.
std::string read_file(const std::string& path, uint64_t max_bytes);

// Writes `content` to a temporary file beside `path`, flushes it, then renames it over `path`:
// readers see the old file or the new one, never a half-written one. "-" means stdout.
void write_file_atomic(const std::string& path, std::string_view content);

// Streaming form of write_file_atomic: write() appends to a temp file beside `path`; commit()
// flushes and renames it into place. Destroyed without commit(), it removes the temp file.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(std::string_view bytes);
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

std::string sha256_hex(const void* data, size_t size);
inline std::string sha256_hex(std::string_view s) { return sha256_hex(s.data(), s.size()); }

// "19-30,32" -> {19,...,30,32}; sorted, unique. UsageError on malformed text.
std::vector<int> parse_int_list(const std::string& text, const std::string& option);
// The inverse for sorted, unique values: {2,3,5} -> "2-3,5"; "" for none.
std::string int_list_text(const std::vector<int>& values);

}  // namespace lvlm
