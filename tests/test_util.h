// Helpers shared by the tests: fixture paths (from CMake), scratch directories, and running the
// real CLI binary the way a user would.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "lvlm_probe/common.h"

namespace lvlm::test {

// The agreement README promises with the transformers reference in float32: probabilities within
// 1e-4 absolute, hidden states within 1e-3 relative.
constexpr double kProbTol = 1e-4;
constexpr double kHiddenTol = 1e-3;

// The message of the InputError `f` throws; "(no error)" when it throws none.
inline std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

inline std::string data_path(const std::string& rel) { return std::string(LVLM_TEST_DATA) + "/" + rel; }
inline std::string tiny_model() { return data_path("tiny-llava"); }

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lvlm-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// The lines of a CLI's stderr that report an error ("error: ..."); a failure gives exactly one.
inline std::vector<std::string> error_lines(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("error: ", 0) == 0) out.push_back(line);
  return out;
}

// Runs `lvlm-probe <args>` through the shell; stdout and stderr are captured to files.
inline CliResult run_cli(const std::string& args) {
  TempDir tmp;
  std::string cmd = std::string("'") + LVLM_CLI + "' " + args + " >" + tmp.file("out") + " 2>" + tmp.file("err");
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::string s;
    if (FILE* f = std::fopen(p.c_str(), "rb")) {
      std::array<char, 4096> buf;
      size_t n;
      while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) s.append(buf.data(), n);
      std::fclose(f);
    }
    return s;
  };
  r.out = slurp(tmp.file("out"));
  r.err = slurp(tmp.file("err"));
  return r;
}

}  // namespace lvlm::test
