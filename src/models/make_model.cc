// `make-model`: the preset's family plans the checkpoint, the checkpoint module writes it
// (write_random_checkpoint). This file holds what every family shares: the checks of the output
// directory and its room, and the dtype flag. Torch-free.
#include <filesystem>

#include "lvlm_probe/common.h"
#include "lvlm_probe/family.h"
#include "lvlm_probe/make_model.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

void check_out_dir(const MakeModelOptions& o) {
  if (o.out_dir.empty()) throw UsageError("make-model: --out is required");
  if (file_exists(o.out_dir) && !is_directory(o.out_dir)) throw UsageError("--out " + o.out_dir + " is a file, not a directory");
  if (!o.force && (file_exists(join_path(o.out_dir, "config.json")) ||
                   file_exists(join_path(o.out_dir, "model.safetensors.index.json"))))
    throw UsageError("--out " + o.out_dir + " already holds a checkpoint; pass --force to overwrite it");
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) throw RuntimeFailure(o.out_dir + ": cannot create directory: " + ec.message());
}

std::string gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", bytes / double(1ull << 30));
  return text;
}

// Refuses before any file is created: above the size cap without --allow-large, or beyond the
// free space of the file system that will hold --out (its nearest existing ancestor).
void check_room(const MakeModelOptions& o, uint64_t bytes) {
  if (bytes > kMaxMakeModelBytes && !o.allow_large)
    throw UsageError("make-model: this geometry needs " + gib(bytes) + " of weights, above the limit of " +
                     gib(kMaxMakeModelBytes) + "; pass --allow-large to write it anyway");
  fs::path at = fs::absolute(o.out_dir);
  std::error_code ec;
  while (!fs::exists(at, ec) && at.has_parent_path() && at != at.parent_path()) at = at.parent_path();
  const fs::space_info space = fs::space(at, ec);
  if (!ec && bytes > space.available)
    throw RuntimeFailure(o.out_dir + ": the checkpoint needs " + gib(bytes) + ", the file system has " +
                         gib(space.available) + " free");
}

}  // namespace

DType make_model_dtype(const MakeModelOptions& o, DType preset_default) {
  if (o.dtype.empty()) return preset_default;
  if (o.dtype == "f32") return DType::F32;
  if (o.dtype == "bf16") return DType::BF16;
  if (o.dtype == "f16") return DType::F16;
  throw UsageError("--dtype: '" + o.dtype + "' is not one of f32, bf16, f16");
}

const char* torch_dtype_name(DType dtype) {
  return dtype == DType::F32 ? "float32" : dtype == DType::BF16 ? "bfloat16" : "float16";
}

const std::vector<std::string>& make_model_presets() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const ModelFamily* f : model_families())
      for (const std::string& p : f->make_model_presets()) all.push_back(p);
    return all;
  }();
  return names;
}

MadeModel make_model(const MakeModelOptions& o) {
  const ModelFamily& family = family_of_preset(o.preset);
  const CheckpointPlan plan = family.plan_checkpoint(o);
  if (!(o.init_std > 0) || o.init_std > 1) throw UsageError("--std must be in (0, 1]");
  MadeModel m;
  m.family = family.name();
  m.summary = plan.summary;
  m.parameters = plan.parameters();
  m.bytes = plan.bytes();
  m.dtype = dtype_name(plan.dtype);
  check_room(o, m.bytes);
  check_out_dir(o);
  m.files = write_random_checkpoint(o.out_dir, plan, {o.seed, o.init_std, o.max_shard_bytes});
  return m;
}

}  // namespace lvlm
