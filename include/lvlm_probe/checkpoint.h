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

#include "lvlm_probe/json.h"
#include "lvlm_probe/memory.h"

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
// naming `path`. Pure function over bytes (fuzzed). The "__metadata__" strings go into `metadata`
// when given (values of other types are skipped: the format allows strings only).
std::vector<TensorEntry> parse_safetensors_header(std::string_view header, uint64_t data_size,
                                                  const std::string& path,
                                                  std::map<std::string, std::string>* metadata = nullptr);

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
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t mapped_bytes() const { return size_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
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
  std::string dtype_names() const;  // the stored dtypes, "F16" or "BF16+F32"
  uint64_t parameter_count() const;
  const std::map<std::string, TensorView>& all() const { return by_name_; }

  // The weights' memory when computed in `compute` on the CPU: a tensor stored in that dtype (and
  // aligned) is mapped from its file, as page cache the kernel may drop and read again; every
  // other one is converted into memory of the process's own. Unused tensors count too (a few
  // percent at most: CLIP's layers past the feature layer).
  struct Footprint {
    uint64_t copied = 0, mapped = 0;
  };
  Footprint footprint(DType compute) const;

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, TensorView> by_name_;
  std::set<std::string> taken_;
  std::vector<std::string> problems_;
};

// A compute dtype the user may ask for, as the flags that ask for it ("--dtype bf16").
struct DtypeChoice {
  DType dtype;
  std::string flags;
};
// Before a CPU load: throws RuntimeFailure naming the model directory when the weights' copies in
// `compute` cannot fit in `room` (the kernel would kill the process part way through loading),
// and names those of `others` whose copies would. Returns a warning when the copies fit but the
// copies and the mapped files together do not (mapped pages are then read from disk again while
// the layers run), else "".
std::string check_weights_fit(const WeightStore& store, const DtypeChoice& compute, const MemoryRoom& room,
                              const std::vector<DtypeChoice>& others);

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

// --- Random-weight checkpoints (make-model) --------------------------------------------------
// What a family wants written (ModelFamily::plan_checkpoint); write_random_checkpoint() writes it
// in transformers' layout with values from a counter-based generator, so a 14 GB checkpoint
// streams to disk in fixed-size chunks and the same seed always gives the same bytes.
enum class TensorInit { normal, ones, zeros };  // normal: N(0, init_std); norms 1, biases 0

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  TensorInit init = TensorInit::normal;
  int64_t numel() const;
};

struct CheckpointPlan {
  std::vector<TensorSpec> tensors;  // in state_dict order, named by the family's name table
  DType dtype = DType::F32;         // stored dtype of every tensor
  // Files copied as they are (a tokenizer): name in the directory, bytes. Written first.
  std::vector<std::pair<std::string, std::string>> files;
  // JSON files written after the weights, in order; config.json last, so that a directory without
  // it is not mistaken for a checkpoint.
  std::vector<std::pair<std::string, OrderedJson>> documents;
  std::string summary;              // the geometry in a line, for make-model's log

  uint64_t parameters() const;
  uint64_t bytes() const;           // of the weights in `dtype`
};

struct RandomWeights {
  uint64_t seed = 0;
  double init_std = 0.02;
  uint64_t max_shard_bytes = 0;     // 0 = half the model, at most 2 GiB per shard
};

// Writes plan.files, the shards model-0000i-of-0000n.safetensors, model.safetensors.index.json
// and plan.documents into `out_dir` (which must exist), each file atomically. Returns the names
// written, in order.
std::vector<std::string> write_random_checkpoint(const std::string& out_dir, const CheckpointPlan& plan,
                                                 const RandomWeights& weights);

}  // namespace lvlm
