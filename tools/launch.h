// How lvlm-probe hands a command line to lvlm-probe-torch (tools/CMakeLists.txt).
#pragma once

namespace lvlm::cli {

// Replaces this process with lvlm-probe-torch from this binary's own directory, with the same
// argv, after setting the thread runtimes' environment (lvlm_probe/threads.h). Exit code, signals,
// stdin and stdout are then that binary's. Returns (exit code 4) only when it cannot be started.
int exec_torch_binary(char** argv);

}  // namespace lvlm::cli
