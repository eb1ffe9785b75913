// libtorch's CUDA half, loaded only when a GPU is asked for. The wheel's libtorch_cuda.so brings
// cuBLAS, cuDNN and NCCL with it: linked into every process, it took 0.17 s to load before a CPU
// run did anything (docs/performance.md, "Start-up").
#pragma once

#include <string>

namespace lvlm {

// Whether this machine shows an NVIDIA device to the process (/dev/nvidiactl, or /dev/dxg under
// WSL). Without one, CUDA cannot have a device, so `--device auto` stays on the CPU without
// loading anything.
bool gpu_device_nodes_present();

// Loads libtorch_cuda.so (from libtorch_cpu.so's directory, else the library path) once per
// process; it registers libtorch's CUDA backend as it loads. Must run before anything asks libtorch
// about CUDA: libtorch decides once, at the first question, whether its CUDA backend exists.
// False with the loader's message in `why` when this libtorch has no CUDA half.
bool load_cuda_backend(std::string* why);

}  // namespace lvlm
