// Inside the common module: the primitives every output goes through (AtomicFile, OutputSet).
// The rules they enforce are listed in docs/hardening.md, "Outputs".
#pragma once

#include <string>
#include <string_view>

namespace lvlm::detail {

// UsageError naming `path` when it exists and is not a regular file (lstat: a directory, device,
// FIFO, socket or symbolic link), or is empty. `flag` ("--out") is named too when given.
void check_replaceable(const std::string& path, const std::string& flag = "");

// Creates "<path>.tmp.<12 random characters>" with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0666
// (the kernel applies the umask, as for any new file): a name nobody can predict, and a symbolic
// link planted there fails the open instead of redirecting it. Returns the descriptor.
int create_temp_beside(const std::string& path, std::string* tmp);

// Writes all of `bytes` to `fd`; RuntimeFailure "<name>: write failed: <reason>".
void write_fd(int fd, std::string_view bytes, const std::string& name);

// Renames the finished `tmp` over `path` after checking `path` again, then fsyncs the directory.
// On failure removes `tmp` and throws naming `path`.
void move_into_place(const std::string& tmp, const std::string& path);

// Test-only hook (docs/hardening.md, "The test suite on any CPU and under any load"): with
// LVLM_PROBE_TEST_WRITE_STAGES=<log>, the process appends "<stage> <path>" to <log> and stops
// itself (SIGSTOP) before each stage of an atomic write (create, write, sync, rename) and once the
// file is in place (done), so that a test can SIGKILL it at a known stage instead of at a moment of
// the clock. Does nothing without the variable.
void write_stage(const char* stage, const std::string& path);

// The directory `path` is written into: "." for a bare name.
std::string parent_directory(const std::string& path);

// Makes a rename in the directory of `path` durable. Best effort: not every file system can.
void fsync_directory_of(const std::string& path);
void fsync_directory(const std::string& dir);

// Flushes what was printed before, then writes `bytes` to stdout; RuntimeFailure on any error.
void write_stdout(std::string_view bytes);

// realpath() of the directory `path` would be written into, plus its last component; InputError
// naming `path` when that directory does not exist.
std::string resolve_output_path(const std::string& path);

}  // namespace lvlm::detail
