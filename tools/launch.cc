#include "launch.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lvlm_probe/common.h"
#include "lvlm_probe/threads.h"

namespace lvlm::cli {
namespace {

constexpr char kTorchBinary[] = "lvlm-probe-torch";

// The directory of the running binary itself (symbolic links in PATH resolved), not of argv[0].
std::string own_directory() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  const std::string exe(path, static_cast<size_t>(n));
  return exe.substr(0, exe.find_last_of('/'));
}

}  // namespace

int exec_torch_binary(char** argv) {
  const std::string path = own_directory() + "/" + kTorchBinary;
  set_runtime_environment();
  ::execv(path.c_str(), argv);
  spdlog::error("cannot start {}: {} (lvlm-probe runs it for the commands that load a model; it is built and "
                "installed beside lvlm-probe)", path, std::strerror(errno));
  return static_cast<int>(ExitCode::runtime);
}

}  // namespace lvlm::cli
