// How the computation reaches the device, and the one door through which results come back.
//
// Generic kernels: on the CPU the model and the lens normally take their own fused loops
// (src/models/cpu_matmul.cc, src/lens/cpu_softmax.cc); `--device cpu-generic` turns them off so
// that every operation is the device-generic ATen call CUDA runs, and the CUDA path can be tested
// on a machine without a GPU (docs/performance.md, "The CUDA path on the CPU").
//
// Host syncs: every read of device results by the host (`.item()`, `.cpu()`, `.to(kCPU)`) makes
// the host wait for the device's queue, so each one goes through to_host() or host_scalar(), which
// count them per site; tests assert the count per generation step and that no other reads exist.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

namespace lvlm {

// Process-wide, set once from DeviceOptions before a model loads (like --reduced-math).
void set_generic_kernels(bool generic);
bool generic_kernels();
// True when `t` may go through the CPU's own kernels: it is on the CPU and generic kernels are off.
bool cpu_kernels_for(const at::Tensor& t);

enum class SyncSite { lens, decode, guard, features, attention, count_ };
const char* sync_site_name(SyncSite site);

// t on the host (a copy when it is elsewhere), counted as one sync at `site`.
at::Tensor to_host(const at::Tensor& t, SyncSite site);
// The single value of `t` (torch's .item()), counted as one sync at `site`.
int64_t host_int(const at::Tensor& t, SyncSite site);
// `t` (on the host) copied to `device`, counted as one sync at `site`.
at::Tensor to_device(const at::Tensor& t, at::Device device, SyncSite site);
// Rows `rows` of `t` (dimension 0): a view when they are consecutive, as every observer asks for,
// with no copy; else index_select with the indices copied to t's device (one sync at `site`).
at::Tensor take_rows(const at::Tensor& t, const std::vector<int64_t>& rows, SyncSite site);

using SyncCounts = std::array<int64_t, static_cast<size_t>(SyncSite::count_)>;
SyncCounts sync_counts();  // since the process started or the last reset
void reset_sync_counts();

}  // namespace lvlm
