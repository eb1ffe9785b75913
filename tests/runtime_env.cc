// runtime_env BINARY ARGS...: runs BINARY under the runtime settings `lvlm-probe` gives its model
// binary (runtime_environment, lvlm_probe/threads.h), which libgomp, OpenBLAS and glibc's malloc read
// only when they load. torch_tests runs through it (its CROSSCOMPILING_EMULATOR, which ctest and test
// discovery use): without them, ctest's parallel test processes spin libgomp's default 300,000
// rounds against each other for the cores (the torch tests took 74 s at -j2 on 2 cores, 56-70 s with).
#include <unistd.h>

#include <cstdio>

#include "lvlm_probe/threads.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s BINARY [ARGS...]\n", argv[0]);
    return 2;
  }
  lvlm::set_runtime_environment();
  ::execv(argv[1], argv + 1);
  std::perror(argv[1]);
  return 127;
}
