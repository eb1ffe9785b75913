// lvlm-probe runs the commands that need no model without loading libtorch, and hands the others
// to lvlm-probe-torch beside it (tools/CMakeLists.txt, docs/performance.md "Start-up"). Which
// libraries a process maps is read from the dynamic loader's own log (LD_DEBUG=libs), not timed.
#include <filesystem>
#include <fstream>

#include "lvlm_probe/common.h"
#include "models/cuda_runtime.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

// stderr of `LD_DEBUG=libs <binary> <args>` (the loader logs every library it loads there).
std::string loader_log(const std::string& binary, const std::string& args, int* exit_code) {
  test::TempDir tmp;
  const std::string cmd = "LD_DEBUG=libs '" + binary + "' " + args + " >/dev/null 2>'" + tmp.file("err") + "'";
  const int status = std::system(cmd.c_str());
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return read_file(tmp.file("err"));
}

bool loads_libtorch(const std::string& log) {
  return log.find("libtorch") != std::string::npos || log.find("libc10") != std::string::npos;
}

std::string demo_report() { return "'" + test::data_path("reports/demo-report.json") + "'"; }

TEST(CliStartup, CommandsWithoutAModelDoNotLoadLibtorch) {
  const std::string report = demo_report();
  const std::vector<std::pair<std::string, int>> commands = {
      {"check --baseline " + report + " --candidate " + report, 0},
      {"check --help", 0},
      {"render " + report + " --out -", 0},
      {"inspect --model '" + test::tiny_model() + "'", 0},
      {"check --baseline /nonexistent.json --candidate " + report, 3},
      {"--version", 0},
  };
  for (const auto& [args, code] : commands) {
    SCOPED_TRACE(args);
    int exit_code = -1;
    const std::string log = loader_log(LVLM_CLI, args, &exit_code);
    EXPECT_EQ(exit_code, code);
    EXPECT_NE(log.find("libstdc++"), std::string::npos) << "no loader log: " << log.substr(0, 500);
    EXPECT_FALSE(loads_libtorch(log)) << log.substr(0, 2000);
  }
}

TEST(CliStartup, CommandsWithAModelRunInTheTorchBinary) {
  int exit_code = -1;
  EXPECT_TRUE(loads_libtorch(loader_log(LVLM_CLI, "run --help", &exit_code)));
  EXPECT_EQ(exit_code, 0);
  // Exit codes come through unchanged: a usage error and a bad model directory.
  EXPECT_EQ(test::run_cli("run --image x.png --prompt hi").exit_code, 2);
  test::CliResult bad = test::run_cli("run --model /nonexistent/model --input-ids 1,2 --out -");
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find("/nonexistent/model: model directory does not exist"), std::string::npos) << bad.err;
  // The top-level help comes from the torch binary and lists every command.
  test::CliResult help = test::run_cli("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* name : {"run", "demo", "bench", "batch", "check", "render", "aggregate", "inspect", "preprocess",
                           "make-model"})
    EXPECT_NE(help.out.find("\n  " + std::string(name) + " "), std::string::npos) << name << " missing:\n" << help.out;
}

TEST(CliStartup, AloneTheLightBinaryStillChecksAndNamesTheMissingSibling) {
  test::TempDir dir;
  const std::string alone = dir.file("lvlm-probe");
  fs::copy_file(LVLM_CLI, alone);
  const std::string report = demo_report();
  int exit_code = -1;
  loader_log(alone, "check --baseline " + report + " --candidate " + report, &exit_code);
  EXPECT_EQ(exit_code, 0);
  const std::string cmd = "'" + alone + "' run --help >/dev/null 2>'" + dir.file("err") + "'";
  const int status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 4);
  const std::string err = read_file(dir.file("err"));
  EXPECT_NE(err.find("cannot start " + dir.file("lvlm-probe-torch")), std::string::npos) << err;
}

// A CPU run maps none of libtorch's CUDA half (libtorch_cuda with cuBLAS, cuDNN and NCCL: 0.17 s
// to load); `--device cuda` loads it where the libtorch has one, and says why it cannot run here.
TEST(CliStartup, CpuRunsLoadNoCudaLibrary) {
  test::TempDir dir;
  const std::string run = "run --model '" + test::tiny_model() + "' --image '" + test::tiny_model() +
                          "/test.png' --prompt 'What is shown in this image?' --max-new-tokens 2 --out '" +
                          dir.file("report.json") + "'";
  for (const std::string device : {"", " --device cpu", " --device cpu-generic"}) {
    SCOPED_TRACE(device);
    int exit_code = -1;
    const std::string log = loader_log(LVLM_CLI, run + device, &exit_code);
    EXPECT_EQ(exit_code, 0);
    EXPECT_TRUE(loads_libtorch(log));
    // (The wheel's libtorch_cpu.so itself needs the small CUDA runtime and CUPTI, for its profiler.)
    for (const char* cuda : {"libtorch_cuda", "libc10_cuda", "libcublas", "libcudnn", "libnccl"})
      EXPECT_EQ(log.find(cuda), std::string::npos) << cuda << " loaded:\n" << log.substr(0, 3000);
  }
  if (gpu_device_nodes_present()) return;  // a GPU could run it
  int exit_code = -1;
  const std::string log = loader_log(LVLM_CLI, run + " --device cuda", &exit_code);
  EXPECT_EQ(exit_code, 4);
#ifdef LVLM_TORCH_HAS_CUDA_LIBRARY
  EXPECT_NE(log.find("libtorch_cuda.so"), std::string::npos);
  EXPECT_NE(log.find("--device cuda: no GPU is visible to libtorch's CUDA runtime"), std::string::npos) << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
#else
  EXPECT_NE(log.find("--device cuda: this libtorch has no CUDA support (libtorch_cuda.so"), std::string::npos)
      << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
#endif
}

// The runtimes' settings (lvlm_probe/threads.h) reach the model binary, and a user's own choice
// wins: a stand-in lvlm-probe-torch beside a copy of lvlm-probe writes the environment it got.
TEST(CliStartup, TheModelBinaryStartsWithTheRuntimeSettings) {
  test::TempDir dir;
  const std::string alone = dir.file("lvlm-probe");
  fs::copy_file(LVLM_CLI, alone);
  {
    std::ofstream script(dir.file("lvlm-probe-torch"));
    script << "#!/bin/sh\nenv > \"$0.env\"\n";
  }
  fs::permissions(dir.file("lvlm-probe-torch"), fs::perms::owner_all);
  auto environment_of_child = [&](const std::string& assignments) {
    const std::string cmd = "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u MALLOC_TOP_PAD_ -u MALLOC_MMAP_THRESHOLD_ "
                            "-u MALLOC_TRIM_THRESHOLD_ -u MALLOC_MMAP_MAX_ -u GLIBC_TUNABLES " +
                            assignments + " '" + alone + "' run --help";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return "\n" + read_file(dir.file("lvlm-probe-torch.env"));
  };
  std::string env = environment_of_child("");
  for (const char* line : {"\nGOMP_SPINCOUNT=3000\n", "\nMALLOC_MMAP_THRESHOLD_=33554432\n",
                           "\nMALLOC_TRIM_THRESHOLD_=1073741824\n", "\nMALLOC_TOP_PAD_=268435456\n"})
    EXPECT_NE(env.find(line), std::string::npos) << line << " missing:" << env;
  env = environment_of_child("MALLOC_TOP_PAD_=0 OMP_WAIT_POLICY=active");
  EXPECT_NE(env.find("\nMALLOC_TOP_PAD_=0\n"), std::string::npos) << env;
  EXPECT_NE(env.find("\nOMP_WAIT_POLICY=active\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("MALLOC_MMAP_THRESHOLD_"), std::string::npos) << env;
  EXPECT_EQ(env.find("GOMP_SPINCOUNT"), std::string::npos) << env;
}

}  // namespace
}  // namespace lvlm
