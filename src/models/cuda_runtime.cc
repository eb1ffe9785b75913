#include "cuda_runtime.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace lvlm {
namespace {

constexpr char kCudaLibrary[] = "libtorch_cuda.so";

// The directory libtorch_cpu.so was loaded from: its CUDA half sits beside it in every libtorch.
std::string libtorch_directory() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const char* name = info->dlpi_name;
        const char* slash = name ? std::strrchr(name, '/') : nullptr;
        if (!slash || std::strcmp(slash + 1, "libtorch_cpu.so") != 0) return 0;
        *static_cast<std::string*>(out) = std::string(name, slash);
        return 1;
      },
      &found);
  return found;
}

}  // namespace

bool gpu_device_nodes_present() {
  for (const char* node : {"/dev/nvidiactl", "/dev/dxg"})
    if (::access(node, F_OK) == 0) return true;
  return false;
}

bool load_cuda_backend(std::string* why) {
  static std::once_flag once;
  static bool loaded = false;
  static std::string error;
  std::call_once(once, [] {
    const std::string directory = libtorch_directory();
    void* handle = nullptr;
    if (!directory.empty()) handle = ::dlopen((directory + "/" + kCudaLibrary).c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle) handle = ::dlopen(kCudaLibrary, RTLD_NOW | RTLD_GLOBAL);  // the library path, the binary's RUNPATH
    if (handle) {
      loaded = true;  // never closed: libtorch keeps the backend it registered
    } else {
      const char* message = ::dlerror();
      error = message ? message : std::string(kCudaLibrary) + " could not be loaded";
    }
  });
  if (!loaded && why) *why = error;
  return loaded;
}

}  // namespace lvlm
