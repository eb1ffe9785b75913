// The libtorch half of the family registry: each family's loader by its name (families.inc;
// family_registry.cc finds the family of a checkpoint).
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/version.h>

#include "cpu_matmul.h"
#include "cuda_runtime.h"
#include "layers.h"
#include "lvlm_probe/device_path.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/family.h"
#include "lvlm_probe/memory.h"
#include "lvlm_probe/model_config.h"
#include "lvlm_probe/models.h"
#include "lvlm_probe/threads.h"

#define LVLM_FAMILY(ns)                                                                                  \
  namespace lvlm::ns {                                                                                   \
  const ModelFamily& family();                                                                           \
  std::unique_ptr<VisionLanguageModel> load(const std::string& model_dir, WeightStore store, at::ScalarType dtype, \
                                            at::Device device);                                                \
  }
#include "families.inc"
#undef LVLM_FAMILY

extern "C" {
// OpenBLAS's own pool; weak so that builds against another BLAS still link.
void openblas_set_num_threads(int) __attribute__((weak));
}

namespace lvlm {
namespace {

using Loader = std::unique_ptr<VisionLanguageModel> (*)(const std::string&, WeightStore, at::ScalarType, at::Device);

struct FamilyLoader {
  const ModelFamily& (*family)();
  Loader load;
};

const FamilyLoader kLoaders[] = {
#define LVLM_FAMILY(ns) {&ns::family, &ns::load},
#include "families.inc"
#undef LVLM_FAMILY
};

// A CPU load whose weights cannot fit stops here with the dtypes that would, instead of being
// killed by the kernel part way through converting them.
void check_weight_memory(const WeightStore& store, at::ScalarType dtype, const DeviceOptions& options) {
  const std::optional<MemoryRoom> room = memory_room();
  if (!room) return;
  const char* name = compute_dtype_name(dtype);
  const DType as_stored = dtype == at::kBFloat16 ? DType::BF16 : dtype == at::kHalf ? DType::F16 : DType::F32;
  const DtypeChoice compute{as_stored, options.dtype == "auto" ? std::string(name) + " (--dtype auto on the CPU)"
                                                            : "--dtype " + std::string(name)};
  std::vector<DtypeChoice> others = {
      {DType::BF16, std::string("--dtype bf16") + (onednn_bf16_products() ? "" : " --reduced-math fast")}};
  if (TORCH_VERSION_MAJOR >= 2) others.push_back({DType::F16, "--dtype f16"});
  others.push_back({DType::F32, "--dtype f32"});
  const std::string warning = check_weights_fit(store, compute, *room, others);
  if (!warning.empty()) spdlog::warn("{}: {}", store.dir(), warning);
}

}  // namespace

std::unique_ptr<VisionLanguageModel> load_model(const std::string& model_dir, const DeviceOptions& options) {
  // Validate options before touching the disk: a usage error should not wait for a 14 GB load.
  at::Device device = parse_device(options.device);
  at::ScalarType dtype = parse_compute_dtype(options.dtype, device.is_cuda());
  configure_threads(options.threads);
  if (options.reduced_math != "exact" && options.reduced_math != "fast")
    throw UsageError("--reduced-math must be exact or fast, not '" + options.reduced_math + "'");
  // fast changes only bf16/f16 products: asked for with float32, it would do nothing while the
  // report claimed it.
  if (options.reduced_math == "fast" && dtype == at::kFloat)
    throw UsageError("--reduced-math fast applies to --dtype bf16 or f16; the compute dtype here is f32" +
                     std::string(options.dtype == "auto" ? " (auto on the CPU)" : ""));
  // cpu-generic runs ATen's kernels only, as CUDA would: fast's float32 products are the CPU's own.
  if (options.reduced_math == "fast" && options.device == "cpu-generic")
    throw UsageError("--reduced-math fast runs the CPU's own kernels; --device cpu-generic runs ATen's only");
  set_fast_reduced_precision(options.reduced_math == "fast");
  set_generic_kernels(options.device == "cpu-generic");
  const ModelFamily& family = family_of_model(model_dir);
  WeightStore store = WeightStore::open(model_dir);
  if (device.is_cpu()) check_weight_memory(store, dtype, options);
  for (const auto& entry : kLoaders)
    if (&entry.family() == &family) return entry.load(model_dir, std::move(store), dtype, device);
  throw RuntimeFailure("family '" + family.name() + "' has no loader in families.inc");
}

std::string slow_products_warning(const DeviceOptions& o) {
  // parse_device would load libtorch's CUDA half for "auto": the device nodes tell without it.
  const bool cpu = o.device == "cpu" || o.device == "cpu-generic" || (o.device == "auto" && !gpu_device_nodes_present());
  if (!cpu || o.reduced_math != "exact" || onednn_bf16_products()) return "";
  try {
    if (parse_compute_dtype(o.dtype, /*cuda=*/false) != at::kBFloat16) return "";
  } catch (const UsageError&) {  // load_model reports it
    return "";
  }
  return "--dtype bf16: this CPU has no AVX-512, so libtorch multiplies bfloat16 without oneDNN, several times "
         "slower than float32 (docs/performance.md); " +
         std::string(o.device == "cpu-generic" ? "--dtype f32"
                                               : "--reduced-math fast (float32 products, rounded once) or --dtype f32") +
         " is much faster here";
}

void configure_threads(int threads) {
  if (threads < 0) throw UsageError("--threads must be 0 (all cores) or positive");
  // One pool of N threads working at a time (docs/performance.md, "Threads"): ATen's intra-op
  // pool, which is OpenMP's (and MKL's in PyPI builds). Large products run OpenBLAS
  // single-threaded on ATen's threads (cpu_matmul.cc): OpenBLAS's own pool on top of ATen's
  // oversubscribes the cores (3x slower decoding at 2 cores). The inter-op pool only serves
  // at::launch, which nothing here calls; it is pinned to 1 so that it cannot add threads either.
  at::set_num_threads(resolve_thread_count(threads, usable_cores()));
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  if (at::get_num_interop_threads() != 1) {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {  // the pool was started (or sized) before: leave it
    }
  }
}

std::string resid_tap_name(int layer) {
  return layer == 0 ? "blocks.0.hook_resid_pre" : "blocks." + std::to_string(layer - 1) + ".hook_resid_post";
}

int layer_of_resid_tap(const std::string& name) {
  if (name == "blocks.0.hook_resid_pre") return 0;
  const std::string head = "blocks.", tail = ".hook_resid_post";
  if (name.size() <= head.size() + tail.size() || name.rfind(head, 0) != 0 ||
      name.compare(name.size() - tail.size(), tail.size(), tail) != 0)
    return -1;
  const std::string digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(digits) + 1;
}

}  // namespace lvlm
