// Shared vocabulary of every module: typed errors with their exit codes, whole-file I/O
// with atomic replacement, SHA-256. Free of libtorch so parsers and the CLI stay light.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lvlm {

// Exit codes of the CLI (README, "Exit codes"). The library throws; only tools/ maps them to exits.
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

// A file opened for reading once it is known to be a regular file (after following symlinks):
// opened non-blocking, so a FIFO cannot hang the open, then checked with fstat on the same
// descriptor that every later read or mmap uses (no window between check and use). A directory,
// FIFO, socket or device is refused: InputError "<path>: not a regular file (fifo)".
class RegularFile {
 public:
  explicit RegularFile(const std::string& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }  // at open time
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Any whole file lvlm-probe reads stays below this unless its reader documents another limit
// (docs/hardening.md lists them all).
constexpr uint64_t kMaxReadBytes = 1ull << 30;

// A regular file's bytes (see RegularFile), refusing files over `max_bytes` with InputError
// "<path>: file of N bytes exceeds the limit of M bytes" before reading them, and stopping at the
// limit should the file grow while it is read.
std::string read_file(const std::string& path, uint64_t max_bytes = kMaxReadBytes);

// Writes `content` to a temporary file beside `path`, flushes it, then renames it over `path`:
// readers see the old file or the new one, never a half-written one. "-" means stdout. Inside
// an OutputSet the rename waits for the set's commit(). The rules (docs/hardening.md, "Outputs"):
// a `path` that exists and is not a regular file (directory, device, FIFO, socket, symbolic
// link) is refused with UsageError; the temp file gets an unpredictable name, is created with
// O_EXCL|O_NOFOLLOW and the mode a new file gets (0666 & ~umask), and is fsynced before the rename.
void write_file_atomic(const std::string& path, std::string_view content);

// Streaming form of write_file_atomic: write() appends to a temp file beside `path`; commit()
// flushes and renames it into place (or hands it to the active OutputSet). Destroyed without
// commit(), it removes the temp file. "-" collects the bytes and writes them to stdout on commit.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(std::string_view bytes);
  void commit();
  // For a file several processes may race to create (a run directory's run.json): puts the
  // finished file at `path` only when nothing is there yet (link(), never replacing); false
  // when another process came first. Never staged in an OutputSet.
  bool commit_if_absent();
  const std::string& path() const { return path_; }

 private:
  void finish();  // fsync + close; throws naming path_
  std::string path_, tmp_, stdout_bytes_;
  int fd_ = -1;
  bool to_stdout_ = false, committed_ = false;
};

// All or nothing for the outputs of one command. While an OutputSet exists (one at a time),
// every AtomicFile and write_file_atomic of the process writes its temp file as usual but leaves
// the rename to the set: commit() puts every output in place only after all were written, and a
// set destroyed without commit() (an exception unwinding) removes every temp file, so a failed
// command leaves none of its outputs. Bytes for stdout ("-") are held back the same way.
//
// The add_* calls check paths before any work, throwing UsageError (exit 2) naming the file:
// an output that exists and is not a regular file; two outputs that are the same file (after
// resolving the directory, or the same inode), or both stdout; an output that is an input, or
// that would replace a file of an input directory. `flag` names the path in messages ("--out").
class OutputSet {
 public:
  OutputSet();
  ~OutputSet();
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;

  void add_input(const std::string& path, const std::string& flag);
  // A directory read by the command. `owns(relative)` says whether an output at that path inside
  // it would replace one of its files (a run directory's layout); without it, every file that
  // exists there (at any depth) is protected.
  void add_input_dir(const std::string& dir, const std::string& flag,
                     std::function<bool(const std::string& relative)> owns = nullptr);
  // "" is ignored (an optional output not given); "-" is stdout. InputError when the directory
  // it would be written into does not exist, RuntimeFailure when it cannot be written into: a
  // typo fails before minutes of model time.
  void add_output(const std::string& path, const std::string& flag);
  bool writes_stdout() const;
  // Where this command can read back a file it wrote to `path` before commit(): the staged temp
  // file (a page that draws the features the same command dumped); `path` when none is staged.
  std::string readable(const std::string& path) const;

  // Checks every target again, writes the stdout bytes, renames every temp file into place and
  // fsyncs their directories. Throws RuntimeFailure naming the file when any step fails.
  void commit();
  // The set the process's writes are staged in, or nullptr.
  static OutputSet* active();

 private:
  friend class AtomicFile;
  struct Input {
    std::string path, resolved, flag;  // as given, realpath(), the flag that names it
    bool directory = false;
    std::function<bool(const std::string&)> owns;
  };
  struct Output {
    std::string path, resolved, flag;  // resolved: realpath() of its directory + name; "-" for stdout
  };
  struct Staged {
    std::string path, tmp;
  };
  void stage(const std::string& path, std::string tmp);  // takes ownership of the temp file
  void stage_stdout(std::string bytes);
  void add(Input input);
  static void check_against(const Output& output, const Input& input);
  std::vector<Input> inputs_;
  std::vector<Output> outputs_;
  std::vector<Staged> staged_;
  std::string stdout_bytes_;
  bool has_stdout_bytes_ = false;
};

// Flushes std::cout and C's stdout; RuntimeFailure "stdout: write failed: <reason>" when any
// write to stdout failed (a full disk, a closed pipe), so such a command does not exit 0.
void flush_stdout();

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
