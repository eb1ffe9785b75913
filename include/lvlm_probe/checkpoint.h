// Hugging Face checkpoints on disk: memory-mapped safetensors (one file or shards listed in
// model.safetensors.index.json), validated before any byte is used. No libtorch here: the model
// module wraps these views as tensors.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace lvlm {

// Element types a safetensors file may declare. Only F32, F16 and BF16 are accepted as weights.
enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // as safetensors spells it: "F32", "BF16", ...
bool parse_dtype(std::string_view name, DType* out);
bool is_float_weight(DType dtype);     // F32, F16, BF16

// One tensor inside a mapped file. `data` stays valid as long as the owning store lives.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  const std::string* file = nullptr;  // the file it lives in, for messages

  int64_t numel() const;
};

// Header entry before the file is mapped: what parse_safetensors_header returns.
struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // byte offsets relative to the start of the data section
};

// Parses and validates a safetensors JSON header against the size of the data section that
// follows it: known dtypes, non-negative shapes whose byte size fits (no overflow) and equals
// end - begin, ranges inside the data, no overlaps, every byte accounted for. Throws InputError
// naming `path`. Pure function over bytes (fuzzed).
std::vector<TensorEntry> parse_safetensors_header(std::string_view header, uint64_t data_size,
                                                  const std::string& path);

// A memory-mapped .safetensors file. The first 8 bytes give the header length (capped at
// 100 MB, as the reference implementation does).
class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  size_t mapped_bytes() const { return size_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorView> tensors_;
};

enum class Need { required, optional };

// All weights of a checkpoint directory. Layers fetch their tensors by name with the shape they
// expect; problems (missing, wrong shape, wrong dtype) are collected so that loading reports them
// all at once, and tensors nobody asked for can be listed afterwards.
class WeightStore {
 public:
  // `model_dir` holds model.safetensors or model.safetensors.index.json + shards.
  static WeightStore open(const std::string& model_dir);

  // Returns the tensor or nullptr, after checking dtype (float weights only) and, when `shape`
  // is non-empty, the shape. Records a problem when a required tensor is missing or wrong.
  const TensorView* take(const std::string& name, const std::vector<int64_t>& shape,
                         Need need = Need::required);
  bool contains(const std::string& name) const { return by_name_.count(name) != 0; }
  const TensorView* find(const std::string& name) const;

  // One InputError listing every recorded problem ("<dir>: 3 problems with weights: ...").
  void throw_if_problems() const;
  std::vector<std::string> unused() const;

  const std::string& dir() const { return dir_; }
  std::vector<std::string> files() const;
  std::map<DType, uint64_t> bytes_by_dtype() const;
  uint64_t parameter_count() const;
  const std::map<std::string, TensorView>& all() const { return by_name_; }

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, TensorView> by_name_;
  std::set<std::string> taken_;
  std::vector<std::string> problems_;
};

std::string shape_string(const std::vector<int64_t>& shape);  // "[4096, 11008]"

// An F32 or F16 tensor's values as float32 (F16 widened exactly). InputError naming the file for
// any other dtype.
std::vector<float> tensor_as_f32(const TensorView& tensor);

// Writes a safetensors file (used by `preprocess`, `--dump-features` and `make-model`).
// Tensors are written in the given order, 8-byte aligned, atomically (temp file + rename).
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string_view bytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lvlm
