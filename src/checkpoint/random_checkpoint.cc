// Random-weight checkpoints in transformers' layout (sharded safetensors + index, the family's JSON
// files), for make-model. Torch-free: values come from a counter-based generator, so a 14 GB
// checkpoint streams to disk in fixed-size chunks and the same seed always gives the same bytes.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/threads.h"

namespace lvlm {
namespace {

// --- values ----------------------------------------------------------------------------------
uint64_t mix(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t name_hash(const std::string& s) {  // FNV-1a
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// N(0, std) values [first, first + n) of one tensor: Box-Muller on a splitmix64 stream keyed by
// (seed, tensor, chunk), so chunks can be made in any order or in parallel.
constexpr int64_t kChunk = 1 << 20;
void normal_chunk(uint64_t key, int64_t chunk, double std, float* out, int64_t n) {
  uint64_t state = mix(key ^ mix(static_cast<uint64_t>(chunk) + 0x9E3779B97F4A7C15ull));
  auto next = [&] { return mix(state += 0x9E3779B97F4A7C15ull); };
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = (double((next() >> 11) + 1)) * 0x1.0p-53;  // (0, 1]: log stays finite
    const double u2 = double(next() >> 11) * 0x1.0p-53;
    const double r = std * std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(r * std::cos(2 * M_PI * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(2 * M_PI * u2));
  }
}

uint16_t to_bf16(float f) {  // round to nearest even, as torch's .to(bfloat16)
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return static_cast<uint16_t>((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

uint16_t to_f16(float f) {  // round to nearest even, subnormals kept
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7FFFFFFF;
  if (ax >= 0x47800000) return static_cast<uint16_t>(sign | (ax > 0x7F800000 ? 0x7E00 : 0x7C00));
  if (ax < 0x38800000) {  // below 2^-14: a multiple of the subnormal step 2^-24
    float a;
    std::memcpy(&a, &ax, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t h = (((ax >> 23) - 112) << 10) | ((ax & 0x7FFFFF) >> 13);
  const uint32_t rest = ax & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is right
  return static_cast<uint16_t>(sign | h);
}

std::string encode(const std::vector<float>& v, DType dtype) {
  std::string bytes(v.size() * dtype_size(dtype), '\0');
  if (dtype == DType::F32) {
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return bytes;
  }
  auto* out = reinterpret_cast<uint16_t*>(bytes.data());
  for (size_t i = 0; i < v.size(); ++i) out[i] = dtype == DType::BF16 ? to_bf16(v[i]) : to_f16(v[i]);
  return bytes;
}

// Appends one tensor's bytes to `file`, a block of chunks at a time (made on every core).
void write_tensor(AtomicFile& file, const TensorSpec& s, DType dtype, const RandomWeights& o) {
  const int64_t n = s.numel();
  const uint64_t key = mix(o.seed ^ name_hash(s.name));
  const int64_t workers = usable_cores();
  std::vector<float> block;
  for (int64_t first = 0; first < n; first += workers * kChunk) {
    block.assign(static_cast<size_t>(std::min(workers * kChunk, n - first)), s.init == TensorInit::ones ? 1.0f : 0.0f);
    if (s.init == TensorInit::normal) {
      std::vector<std::thread> pool;
      for (int64_t at = 0; at < static_cast<int64_t>(block.size()); at += kChunk)
        pool.emplace_back(normal_chunk, key, (first + at) / kChunk, o.init_std, block.data() + at,
                          std::min<int64_t>(kChunk, static_cast<int64_t>(block.size()) - at));
      for (auto& t : pool) t.join();
    }
    file.write(encode(block, dtype));
  }
}

// --- files -----------------------------------------------------------------------------------
std::vector<std::vector<const TensorSpec*>> plan_shards(const std::vector<TensorSpec>& specs, DType dtype, uint64_t limit) {
  std::vector<std::vector<const TensorSpec*>> shards(1);
  uint64_t size = 0;
  for (const auto& s : specs) {
    const uint64_t bytes = static_cast<uint64_t>(s.numel()) * dtype_size(dtype);
    if (!shards.back().empty() && size + bytes > limit) shards.emplace_back(), size = 0;
    shards.back().push_back(&s);
    size += bytes;
  }
  return shards;
}

void write_shard(const std::string& path, const std::vector<const TensorSpec*>& specs, DType dtype, const RandomWeights& o) {
  OrderedJson header = OrderedJson::object();
  header["__metadata__"] = {{"format", "pt"}};  // transformers refuses safetensors without it
  uint64_t offset = 0;
  for (const TensorSpec* s : specs) {
    const uint64_t bytes = static_cast<uint64_t>(s->numel()) * dtype_size(dtype);
    header[s->name] = {{"dtype", dtype_name(dtype)}, {"shape", s->shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section 8-byte aligned, as write_safetensors
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((uint64_t(text.size()) >> (8 * i)) & 0xFF);
  AtomicFile file(path);
  file.write(length);
  file.write(text);
  for (const TensorSpec* s : specs) write_tensor(file, *s, dtype, o);
  file.commit();
}

}  // namespace

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint64_t CheckpointPlan::parameters() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += static_cast<uint64_t>(t.numel());
  return n;
}

uint64_t CheckpointPlan::bytes() const { return parameters() * dtype_size(dtype); }

std::vector<std::string> write_random_checkpoint(const std::string& out_dir, const CheckpointPlan& plan,
                                                 const RandomWeights& weights) {
  std::vector<std::string> written;
  for (const auto& [name, bytes] : plan.files) {
    write_file_atomic(join_path(out_dir, name), bytes);
    written.push_back(name);
  }
  const uint64_t total = plan.bytes();
  const uint64_t limit = weights.max_shard_bytes ? weights.max_shard_bytes : std::min<uint64_t>(2ull << 30, (total + 1) / 2);
  const auto shards = plan_shards(plan.tensors, plan.dtype, limit);
  std::map<std::string, std::string> weight_map;  // sorted by name, as save_pretrained writes it
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    spdlog::info("writing {} ({} tensors)", join_path(out_dir, name), shards[i].size());
    write_shard(join_path(out_dir, name), shards[i], plan.dtype, weights);
    for (const TensorSpec* s : shards[i]) weight_map[s->name] = name;
    written.push_back(name);
  }
  std::vector<std::pair<std::string, OrderedJson>> documents = {
      {"model.safetensors.index.json", {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}}};
  documents.insert(documents.end(), plan.documents.begin(), plan.documents.end());
  for (const auto& [name, json] : documents) {
    write_file_atomic(join_path(out_dir, name), json.dump(2) + "\n");
    written.push_back(name);
  }
  return written;
}

}  // namespace lvlm
