#include "lvlm_probe/device_path.h"

#include <ATen/ATen.h>

#include <atomic>

namespace lvlm {
namespace {

std::atomic<bool> g_generic{false};
std::array<std::atomic<int64_t>, static_cast<size_t>(SyncSite::count_)> g_syncs{};

void count(SyncSite site) { g_syncs[static_cast<size_t>(site)].fetch_add(1, std::memory_order_relaxed); }

}  // namespace

void set_generic_kernels(bool generic) { g_generic = generic; }
bool generic_kernels() { return g_generic; }
bool cpu_kernels_for(const at::Tensor& t) { return t.device().is_cpu() && !g_generic; }

const char* sync_site_name(SyncSite site) {
  switch (site) {
    case SyncSite::lens: return "lens";
    case SyncSite::decode: return "decode";
    case SyncSite::guard: return "guard";
    case SyncSite::features: return "features";
    case SyncSite::attention: return "attention";
    default: return "?";
  }
}

// The only device-to-host reads of src/ (tests/perf/host_sync_lint_test.cc checks it).
at::Tensor to_host(const at::Tensor& t, SyncSite site) {
  count(site);
  return t.to(at::kCPU);
}

int64_t host_int(const at::Tensor& t, SyncSite site) {
  count(site);
  return t.item<int64_t>();
}

at::Tensor to_device(const at::Tensor& t, at::Device device, SyncSite site) {
  count(site);
  return t.to(device);
}

at::Tensor take_rows(const at::Tensor& t, const std::vector<int64_t>& rows, SyncSite site) {
  bool consecutive = !rows.empty();
  for (size_t i = 1; i < rows.size() && consecutive; ++i) consecutive = rows[i] == rows[i - 1] + 1;
  if (consecutive) return t.narrow(0, rows.front(), static_cast<int64_t>(rows.size()));
  return t.index_select(0, to_device(at::tensor(rows, at::kLong), t.device(), site));
}

SyncCounts sync_counts() {
  SyncCounts out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = g_syncs[i].load(std::memory_order_relaxed);
  return out;
}

void reset_sync_counts() {
  for (auto& c : g_syncs) c.store(0, std::memory_order_relaxed);
}

}  // namespace lvlm
