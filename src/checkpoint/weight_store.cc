// A checkpoint directory's weights: model.safetensors, or the shards that
// model.safetensors.index.json maps tensor names to (transformers' save_pretrained layout).
#include <algorithm>
#include <filesystem>
#include <set>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"

namespace lvlm {
namespace {

// weight_map {tensor name -> shard file}; returns the shard files in first-seen order.
std::vector<std::string> shards_from_index(const std::string& index_path, std::map<std::string, std::string>* owner) {
  Json index = read_json_file(index_path);
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object() || map->empty())
    throw InputError(index_path, "missing or empty 'weight_map'");
  std::vector<std::string> files;
  std::set<std::string> seen;  // (a search of `files` per entry is quadratic in the shards)
  for (auto it = map->begin(); it != map->end(); ++it) {
    if (!it->is_string()) throw InputError(index_path, "weight_map['" + it.key() + "'] is not a file name");
    const std::string file = it->get<std::string>();
    // Shards must sit in the model directory: no absolute paths, no "..".
    if (file.empty() || file.front() == '/' || file.find("..") != std::string::npos)
      throw InputError(index_path, "weight_map['" + it.key() + "'] = '" + file + "' is not a file in the model directory");
    (*owner)[it.key()] = file;
    if (seen.insert(file).second) files.push_back(file);
  }
  return files;
}

}  // namespace

WeightStore WeightStore::open(const std::string& model_dir) {
  if (!is_directory(model_dir)) {
    throw InputError(model_dir, file_exists(model_dir) ? "is not a directory (expected a model directory)"
                                                       : "model directory does not exist");
  }
  WeightStore store;
  store.dir_ = model_dir;
  const std::string single = join_path(model_dir, "model.safetensors");
  const std::string index = join_path(model_dir, "model.safetensors.index.json");
  std::map<std::string, std::string> owner;  // from the index, to cross-check the shards
  std::vector<std::string> files;
  if (file_exists(index)) {
    files = shards_from_index(index, &owner);
  } else if (file_exists(single)) {
    files = {"model.safetensors"};
  } else {
    throw InputError(model_dir, "no model.safetensors or model.safetensors.index.json (only safetensors "
                                "checkpoints are supported; convert .bin files with transformers' save_pretrained)");
  }
  for (const auto& name : files) {
    auto file = std::shared_ptr<SafetensorsFile>(SafetensorsFile::open(join_path(model_dir, name)));
    for (const auto& t : file->tensors()) {
      if (!owner.empty()) {
        auto it = owner.find(t.name);
        if (it == owner.end() || it->second != name)
          throw InputError(file->path(), "tensor '" + t.name + "' is not mapped to this shard by " + index);
      }
      if (!store.by_name_.emplace(t.name, t).second)
        throw InputError(file->path(), "tensor '" + t.name + "' appears in more than one shard");
    }
    store.files_.push_back(std::move(file));
  }
  for (const auto& [name, file] : owner)
    if (!store.by_name_.count(name))
      throw InputError(join_path(model_dir, file), "tensor '" + name + "' listed in " + index + " is missing");
  return store;
}

const TensorView* WeightStore::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second;
}

const TensorView* WeightStore::take(const std::string& name, const std::vector<int64_t>& shape, Need need) {
  const TensorView* t = find(name);
  if (!t) {
    if (need == Need::required) problems_.push_back("missing tensor '" + name + "'");
    return nullptr;
  }
  taken_.insert(name);
  // Which shard: the error line names the model directory, and a sharded checkpoint has several.
  const std::string shard = t->file ? " in " + std::filesystem::path(*t->file).filename().string() : "";
  const std::string tensor = "tensor '" + name + "'" + shard;
  if (!is_float_weight(t->dtype)) {
    problems_.push_back(tensor + " has dtype " + dtype_name(t->dtype) + ", expected F32, F16 or BF16");
    return nullptr;
  }
  if (!shape.empty() && t->shape != shape) {
    problems_.push_back(tensor + " has shape " + shape_string(t->shape) + ", expected " +
                        shape_string(shape) + " from config.json");
    return nullptr;
  }
  return t;
}

void WeightStore::throw_if_problems() const {
  if (problems_.empty()) return;
  std::string msg = std::to_string(problems_.size()) + (problems_.size() == 1 ? " problem" : " problems") +
                    " with the weights: ";
  const size_t shown = std::min<size_t>(problems_.size(), 5);
  for (size_t i = 0; i < shown; ++i) msg += (i ? "; " : "") + problems_[i];
  if (problems_.size() > shown) msg += "; and " + std::to_string(problems_.size() - shown) + " more";
  throw InputError(dir_, msg);
}

std::vector<std::string> WeightStore::unused() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : by_name_)
    if (!taken_.count(name)) out.push_back(name);
  return out;
}

std::vector<std::string> WeightStore::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f->path());
  return out;
}

std::map<DType, uint64_t> WeightStore::bytes_by_dtype() const {
  std::map<DType, uint64_t> out;
  for (const auto& [name, t] : by_name_) out[t.dtype] += t.nbytes;
  return out;
}

WeightStore::Footprint WeightStore::footprint(DType compute) const {
  Footprint f;
  for (const auto& [name, t] : by_name_) {
    const bool aligned = reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype) == 0;
    if (t.dtype == compute && aligned) f.mapped += t.nbytes;
    else f.copied += static_cast<uint64_t>(t.numel()) * dtype_size(compute);
  }
  return f;
}

std::string WeightStore::dtype_names() const {
  std::string s;
  for (const auto& [dtype, bytes] : bytes_by_dtype()) s += (s.empty() ? "" : "+") + std::string(dtype_name(dtype));
  return s;
}

uint64_t WeightStore::parameter_count() const {
  uint64_t n = 0;
  for (const auto& [name, t] : by_name_) n += static_cast<uint64_t>(t.numel());
  return n;
}

}  // namespace lvlm
