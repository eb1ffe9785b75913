// Safetensors format: 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data.
// Offsets are relative to the start of the data section. Everything is checked before use:
// a downloaded checkpoint is untrusted input.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"
#include "mapped_files.h"

namespace lvlm {
namespace {

// The reference implementation (safetensors' Rust core) refuses headers over 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8},         {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},           {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
};

// Multiplies with an overflow check; a lying header may claim 2^62 elements.
bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

uint64_t read_u64(const std::string& path, const Json& v, const std::string& what) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    throw InputError(path, what + ": expected a non-negative integer");
  return v.get<uint64_t>();
}

TensorEntry parse_entry(const std::string& path, const std::string& name, const Json& info) {
  const std::string where = "safetensors header, tensor '" + name + "'";
  if (!info.is_object()) throw InputError(path, where + ": expected an object");
  TensorEntry e;
  e.name = name;
  auto dt = info.find("dtype");
  if (dt == info.end() || !dt->is_string()) throw InputError(path, where + ": missing 'dtype'");
  if (!parse_dtype(dt->get<std::string>(), &e.dtype))
    throw InputError(path, where + ": unknown dtype '" + dt->get<std::string>() + "'");
  auto sh = info.find("shape");
  if (sh == info.end() || !sh->is_array()) throw InputError(path, where + ": missing 'shape'");
  if (sh->size() > 8) throw InputError(path, where + ": " + std::to_string(sh->size()) + " dimensions");
  uint64_t bytes = dtype_size(e.dtype);
  for (const auto& d : *sh) {
    uint64_t dim = read_u64(path, d, where + " shape");
    if (dim > uint64_t(std::numeric_limits<int64_t>::max()) || !checked_mul(bytes, dim, &bytes))
      throw InputError(path, where + ": shape " + sh->dump() + " overflows");
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  auto off = info.find("data_offsets");
  if (off == info.end() || !off->is_array() || off->size() != 2)
    throw InputError(path, where + ": 'data_offsets' must be [begin, end]");
  e.begin = read_u64(path, (*off)[0], where + " data_offsets");
  e.end = read_u64(path, (*off)[1], where + " data_offsets");
  if (e.end < e.begin) throw InputError(path, where + ": data_offsets end before begin");
  if (e.end - e.begin != bytes)
    throw InputError(path, where + ": " + std::to_string(e.end - e.begin) + " bytes for dtype " +
                               dtype_name(e.dtype) + " and shape " + shape_string(e.shape) + ", expected " +
                               std::to_string(bytes));
  return e;
}

}  // namespace

size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

bool parse_dtype(std::string_view name, DType* out) {
  for (const auto& d : kDTypes)
    if (name == d.name) return *out = d.dtype, true;
  return false;
}

bool is_float_weight(DType dtype) { return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16; }

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<TensorEntry> parse_safetensors_header(std::string_view header, uint64_t data_size,
                                                  const std::string& path, std::map<std::string, std::string>* metadata) {
  JsonLimits limits;
  limits.max_bytes = kMaxHeaderBytes;
  limits.max_depth = 8;  // {name: {"shape": [..]}} needs 3; metadata values are strings
  Json j;
  try {
    j = parse_json(header, path, limits);
  } catch (const InputError& e) {
    throw InputError(path, "safetensors header: " + std::string(e.what()).substr(path.size() + 2));
  }
  if (!j.is_object()) throw InputError(path, "safetensors header is not a JSON object");
  std::vector<TensorEntry> entries;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (metadata && it.value().is_object())
        for (auto m = it.value().begin(); m != it.value().end(); ++m)
          if (m.value().is_string()) (*metadata)[m.key()] = m.value().get<std::string>();
      continue;
    }
    entries.push_back(parse_entry(path, it.key(), it.value()));
  }
  // Ranges must tile the data section: inside it, not overlapping, no holes (as upstream checks).
  std::vector<const TensorEntry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  for (const TensorEntry* e : order) {
    if (e->end > data_size)
      throw InputError(path, "tensor '" + e->name + "' ends at byte " + std::to_string(e->end) +
                                 " of the data section, which has only " + std::to_string(data_size) +
                                 " bytes (truncated file?)");
    if (e->begin < cursor) throw InputError(path, "tensor '" + e->name + "' overlaps another tensor's bytes");
    if (e->begin > cursor)
      throw InputError(path, "bytes " + std::to_string(cursor) + ".." + std::to_string(e->begin) +
                                 " of the data section belong to no tensor");
    cursor = e->end;
  }
  if (cursor != data_size)
    throw InputError(path, std::to_string(data_size - cursor) + " trailing bytes after the last tensor");
  return entries;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  const RegularFile regular(path);  // a FIFO or device is refused before anything is read
  const uint64_t size = regular.size();
  if (size < 8) throw InputError(path, "too short for a safetensors file (" + std::to_string(size) + " bytes)");
  // Read-only, shared mapping: weights are paged in on use and never copied.
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, regular.fd(), 0);
  if (map == MAP_FAILED) throw InputError(path, std::string("mmap failed: ") + std::strerror(errno));
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = map;
  file->size_ = size;
  checkpoint::register_mapping(map, size, path);  // a later truncation then names this file

  const auto* bytes = static_cast<const uint8_t*>(map);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxHeaderBytes) throw InputError(path, "safetensors header length " + std::to_string(n) + " exceeds 100 MB");
  if (n > size - 8)
    throw InputError(path, "safetensors header length " + std::to_string(n) + " runs past the end of the " +
                               std::to_string(size) + "-byte file (truncated or not a safetensors file)");
  std::string_view header(reinterpret_cast<const char*>(bytes + 8), n);
  const uint64_t data_offset = 8 + n;
  for (auto& e : parse_safetensors_header(header, size - data_offset, path, &file->metadata_)) {
    TensorView v;
    v.name = std::move(e.name);
    v.dtype = e.dtype;
    v.shape = std::move(e.shape);
    v.data = bytes + data_offset + e.begin;
    v.nbytes = e.end - e.begin;
    v.file = &file->path_;
    file->tensors_.push_back(std::move(v));
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (!map_) return;
  checkpoint::unregister_mapping(map_);
  ::munmap(map_, size_);
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t expect = dtype_size(t.dtype);
    for (int64_t d : t.shape) expect *= static_cast<uint64_t>(d);
    if (expect != t.bytes.size())
      throw RuntimeFailure(path + ": tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
                           " bytes, its shape needs " + std::to_string(expect));
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + expect}}};
    offset += expect;
  }
  std::string text = header.dump();
  text.append((8 - (text.size() % 8)) % 8, ' ');  // data section starts 8-byte aligned
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((uint64_t(text.size()) >> (8 * i)) & 0xff);
  AtomicFile out(path);
  out.write(prefix);
  out.write(text);
  for (const auto& t : tensors) out.write(t.bytes);
  out.commit();
}

namespace {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

std::vector<float> tensor_as_f32(const TensorView& t) {
  const std::string file = t.file ? *t.file : "safetensors";
  if (t.dtype != DType::F32 && t.dtype != DType::F16)
    throw InputError(file, "tensor " + t.name + " is " + dtype_name(t.dtype) + ", expected F32 or F16");
  std::vector<float> values(static_cast<size_t>(t.numel()));
  if (t.dtype == DType::F32) {
    std::memcpy(values.data(), t.data, values.size() * sizeof(float));
    return values;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, t.data + 2 * i, 2);
    values[i] = f16_to_f32(h);
  }
  return values;
}

}  // namespace lvlm
