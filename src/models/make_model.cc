// `make-model`: random-weight LLaVA-1.5-shaped checkpoints in transformers 4.40's layout (config.json
// with text_config/vision_config, sharded safetensors + index, preprocessor and generation configs),
// for benchmarks and tests. Torch-free: values come from a counter-based generator, so a 14 GB
// checkpoint streams to disk in fixed-size chunks and the same seed always gives the same bytes.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>

#include "lvlm_probe/bench.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/text.h"
#include "lvlm_probe/threads.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

enum class Init { normal, ones, zeros };

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
  Init init;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

LlavaConfig preset_config(const std::string& name) {
  LlavaConfig c;
  TextConfig& t = c.text;
  VisionConfig& v = c.vision;
  auto text = [&](int vocab, int hidden, int ff, int layers, int heads, int positions) {
    t.vocab_size = vocab, t.hidden_size = hidden, t.intermediate_size = ff, t.num_hidden_layers = layers;
    t.num_attention_heads = t.num_key_value_heads = heads, t.max_position_embeddings = positions;
  };
  auto vision = [&](int hidden, int ff, int layers, int heads, int image, int patch) {
    v.hidden_size = hidden, v.intermediate_size = ff, v.num_hidden_layers = layers, v.num_attention_heads = heads;
    v.image_size = image, v.patch_size = patch;
  };
  if (name == "tiny") {  // the geometry of tests/data/tiny-llava, so its tokenizer fits
    text(512, 64, 128, 4, 4, 256), vision(32, 64, 2, 2, 32, 8);
  } else if (name == "bench") {  // the benchmark model (docs/performance.md): 576 image features, 32064 tokens
    text(32064, 512, 1376, 8, 8, 4096), vision(256, 1024, 4, 4, 336, 14);
  } else if (name == "llava-1.5-7b-shape") {  // llava-hf/llava-1.5-7b-hf
    text(32064, 4096, 11008, 32, 32, 4096), vision(1024, 4096, 24, 16, 336, 14);
  } else {
    throw UsageError("--preset: '" + name + "' is not one of tiny, bench, llava-1.5-7b-shape");
  }
  t.rms_norm_eps = 1e-5;  // LLaVA-1.5's value (transformers' default is 1e-6)
  return c;
}

// Overrides from the flags, then the same consistency rules as the config parser, named by flag.
LlavaConfig resolve_config(const MakeModelOptions& o) {
  LlavaConfig c = preset_config(o.preset);
  TextConfig& t = c.text;
  VisionConfig& v = c.vision;
  auto set = [](int flag_value, int* field, const char* flag) {
    if (flag_value < 0) throw UsageError(std::string(flag) + " must be positive");
    if (flag_value > 0) *field = flag_value;
  };
  const bool heads_given = o.heads > 0;
  set(o.layers, &t.num_hidden_layers, "--layers"), set(o.hidden, &t.hidden_size, "--hidden");
  set(o.intermediate, &t.intermediate_size, "--intermediate"), set(o.heads, &t.num_attention_heads, "--heads");
  set(o.vocab, &t.vocab_size, "--vocab"), set(o.max_positions, &t.max_position_embeddings, "--max-positions");
  if (heads_given) t.num_key_value_heads = t.num_attention_heads;
  set(o.kv_heads, &t.num_key_value_heads, "--kv-heads");
  set(o.vision_layers, &v.num_hidden_layers, "--vision-layers"), set(o.vision_hidden, &v.hidden_size, "--vision-hidden");
  set(o.vision_intermediate, &v.intermediate_size, "--vision-intermediate");
  set(o.vision_heads, &v.num_attention_heads, "--vision-heads");
  set(o.image_size, &v.image_size, "--image-size"), set(o.patch_size, &v.patch_size, "--patch-size");
  t.tie_word_embeddings = o.tie_embeddings;
  auto fail = [](const std::string& why) { throw UsageError("make-model: " + why); };
  if (t.hidden_size % t.num_attention_heads) fail("--hidden " + std::to_string(t.hidden_size) + " is not divisible by --heads " + std::to_string(t.num_attention_heads));
  t.head_dim = t.hidden_size / t.num_attention_heads;
  if (t.head_dim % 2) fail("head dimension --hidden / --heads = " + std::to_string(t.head_dim) + " must be even (rotary embeddings)");
  if (t.num_attention_heads % t.num_key_value_heads) fail("--heads " + std::to_string(t.num_attention_heads) + " is not a multiple of --kv-heads " + std::to_string(t.num_key_value_heads));
  if (v.hidden_size % v.num_attention_heads) fail("--vision-hidden is not divisible by --vision-heads");
  if (v.image_size % v.patch_size) fail("--image-size " + std::to_string(v.image_size) + " is not a multiple of --patch-size " + std::to_string(v.patch_size));
  if (v.num_hidden_layers < 2) fail("--vision-layers must be at least 2 (LLaVA takes the features of the second-to-last layer)");
  if (t.vocab_size < 4) fail("--vocab must be at least 4 (BOS, EOS, image and pad tokens)");
  // llava-hf's ids for its 32064-token vocabulary; the last two ids of a smaller one (as the tiny fixture).
  c.image_token_index = t.vocab_size >= 32064 ? 32000 : t.vocab_size - 2;
  return c;
}

// Tensors of LlavaForConditionalGeneration (transformers 4.40 names, state_dict order).
std::vector<Spec> tensor_specs(const LlavaConfig& c) {
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  const int64_t vd = v.hidden_size, vf = v.intermediate_size, td = t.hidden_size, ff = t.intermediate_size;
  const int64_t q = int64_t(t.num_attention_heads) * t.head_dim, kv = int64_t(t.num_key_value_heads) * t.head_dim;
  std::vector<Spec> s;
  auto linear = [&](const std::string& p, int64_t out, int64_t in, bool bias) {
    s.push_back({p + ".weight", {out, in}, Init::normal});
    if (bias) s.push_back({p + ".bias", {out}, Init::zeros});
  };
  auto layer_norm = [&](const std::string& p, int64_t d) {
    s.push_back({p + ".weight", {d}, Init::ones});
    s.push_back({p + ".bias", {d}, Init::zeros});
  };
  const std::string vp = "vision_tower.vision_model.";
  s.push_back({vp + "embeddings.class_embedding", {vd}, Init::normal});
  s.push_back({vp + "embeddings.patch_embedding.weight", {vd, 3, v.patch_size, v.patch_size}, Init::normal});
  s.push_back({vp + "embeddings.position_embedding.weight", {v.num_patches() + 1, vd}, Init::normal});
  layer_norm(vp + "pre_layrnorm", vd);  // sic: transformers' spelling
  for (int i = 0; i < v.num_hidden_layers; ++i) {
    const std::string l = vp + "encoder.layers." + std::to_string(i) + ".";
    for (const char* proj : {"k_proj", "v_proj", "q_proj", "out_proj"}) linear(l + "self_attn." + proj, vd, vd, true);
    layer_norm(l + "layer_norm1", vd);
    linear(l + "mlp.fc1", vf, vd, true), linear(l + "mlp.fc2", vd, vf, true);
    layer_norm(l + "layer_norm2", vd);
  }
  layer_norm(vp + "post_layernorm", vd);
  linear("multi_modal_projector.linear_1", td, vd, true), linear("multi_modal_projector.linear_2", td, td, true);
  const std::string tp = "language_model.model.";
  s.push_back({tp + "embed_tokens.weight", {t.vocab_size, td}, Init::normal});
  for (int i = 0; i < t.num_hidden_layers; ++i) {
    const std::string l = tp + "layers." + std::to_string(i) + ".";
    linear(l + "self_attn.q_proj", q, td, false), linear(l + "self_attn.k_proj", kv, td, false);
    linear(l + "self_attn.v_proj", kv, td, false), linear(l + "self_attn.o_proj", td, q, false);
    linear(l + "mlp.gate_proj", ff, td, false), linear(l + "mlp.up_proj", ff, td, false);
    linear(l + "mlp.down_proj", td, ff, false);
    s.push_back({l + "input_layernorm.weight", {td}, Init::ones});
    s.push_back({l + "post_attention_layernorm.weight", {td}, Init::ones});
  }
  s.push_back({tp + "norm.weight", {td}, Init::ones});
  // save_pretrained leaves out a tied head: it is the embedding table.
  if (!t.tie_word_embeddings) s.push_back({"language_model.lm_head.weight", {t.vocab_size, td}, Init::normal});
  return s;
}

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
void write_tensor(AtomicFile& file, const Spec& s, DType dtype, const MakeModelOptions& o) {
  const int64_t n = s.numel();
  const uint64_t key = mix(o.seed ^ name_hash(s.name));
  const int64_t workers = usable_cores();
  std::vector<float> block;
  for (int64_t first = 0; first < n; first += workers * kChunk) {
    block.assign(static_cast<size_t>(std::min(workers * kChunk, n - first)), s.init == Init::ones ? 1.0f : 0.0f);
    if (s.init == Init::normal) {
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
std::vector<std::vector<const Spec*>> plan_shards(const std::vector<Spec>& specs, DType dtype, uint64_t limit) {
  std::vector<std::vector<const Spec*>> shards(1);
  uint64_t size = 0;
  for (const auto& s : specs) {
    const uint64_t bytes = static_cast<uint64_t>(s.numel()) * dtype_size(dtype);
    if (!shards.back().empty() && size + bytes > limit) shards.emplace_back(), size = 0;
    shards.back().push_back(&s);
    size += bytes;
  }
  return shards;
}

void write_shard(const std::string& path, const std::vector<const Spec*>& specs, DType dtype, const MakeModelOptions& o) {
  OrderedJson header = OrderedJson::object();
  header["__metadata__"] = {{"format", "pt"}};  // transformers refuses safetensors without it
  uint64_t offset = 0;
  for (const Spec* s : specs) {
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
  for (const Spec* s : specs) write_tensor(file, *s, dtype, o);
  file.commit();
}

OrderedJson config_json(const LlavaConfig& c, const char* torch_dtype, int pad_id) {
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  OrderedJson text = {{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", t.hidden_size},
                      {"intermediate_size", t.intermediate_size}, {"max_position_embeddings", t.max_position_embeddings},
                      {"model_type", "llama"}, {"num_attention_heads", t.num_attention_heads},
                      {"num_hidden_layers", t.num_hidden_layers}, {"num_key_value_heads", t.num_key_value_heads},
                      {"pad_token_id", pad_id}, {"rms_norm_eps", t.rms_norm_eps}, {"rope_theta", t.rope_theta},
                      {"tie_word_embeddings", t.tie_word_embeddings}, {"torch_dtype", torch_dtype},
                      {"vocab_size", t.vocab_size}};
  OrderedJson vision = {{"hidden_act", v.hidden_act}, {"hidden_size", v.hidden_size}, {"image_size", v.image_size},
                        {"intermediate_size", v.intermediate_size}, {"layer_norm_eps", v.layer_norm_eps},
                        {"model_type", "clip_vision_model"}, {"num_attention_heads", v.num_attention_heads},
                        {"num_hidden_layers", v.num_hidden_layers}, {"patch_size", v.patch_size},
                        {"projection_dim", v.hidden_size}};
  return {{"architectures", {"LlavaForConditionalGeneration"}}, {"ignore_index", -100},
          {"image_token_index", c.image_token_index}, {"model_type", "llava"}, {"pad_token_id", pad_id},
          {"projector_hidden_act", "gelu"}, {"text_config", text}, {"tie_word_embeddings", t.tie_word_embeddings},
          {"torch_dtype", torch_dtype}, {"transformers_version", "4.40.2"}, {"vision_config", vision},
          {"vision_feature_layer", c.vision_feature_layer},
          {"vision_feature_select_strategy", c.vision_feature_select_strategy}};
}

OrderedJson preprocessor_json(int image_size) {
  return {{"crop_size", {{"height", image_size}, {"width", image_size}}}, {"do_center_crop", true},
          {"do_convert_rgb", true}, {"do_normalize", true}, {"do_rescale", true}, {"do_resize", true},
          {"image_mean", {0.48145466, 0.4578275, 0.40821073}}, {"image_processor_type", "CLIPImageProcessor"},
          {"image_std", {0.26862954, 0.26130258, 0.27577711}}, {"processor_class", "LlavaProcessor"},
          {"resample", 3}, {"rescale_factor", 1.0 / 255}, {"size", {{"shortest_edge", image_size}}}};
}

// Copies tokenizer.model and the HF tokenizer files beside it; the image and pad tokens then come
// from the tokenizer, which must fit the vocabulary.
void copy_tokenizer(const std::string& model_file, const std::string& out, LlavaConfig* c, int* pad_id,
                    std::vector<std::string>* files) {
  if (!file_exists(model_file)) throw InputError(model_file, "--tokenizer: file does not exist");
  const fs::path dir = fs::path(model_file).parent_path();
  write_file_atomic(join_path(out, "tokenizer.model"), read_file(model_file, kMaxTokenizerModelBytes));
  files->push_back("tokenizer.model");
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"}) {
    const std::string from = (dir / name).string();
    if (!file_exists(from)) continue;
    write_file_atomic(join_path(out, name), read_file(from, JsonLimits{}.max_bytes));
    files->push_back(name);
  }
  // The copies are staged until the command's outputs are committed: read the originals.
  Tokenizer tok = Tokenizer::load(model_file, dir.empty() ? std::string(".") : dir.string());
  if (tok.vocab_size() > c->text.vocab_size)
    throw UsageError("--tokenizer " + model_file + " has " + std::to_string(tok.vocab_size()) +
                     " tokens, more than the model's vocabulary of " + std::to_string(c->text.vocab_size));
  if (auto image = tok.added_token_id("<image>")) c->image_token_index = *image;
  if (auto pad = tok.added_token_id("<pad>")) *pad_id = *pad;
}

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

DType resolve_dtype(const MakeModelOptions& o) {
  const std::string name = o.dtype.empty() ? (o.preset == "llava-1.5-7b-shape" ? "bf16" : "f32") : o.dtype;
  if (name == "f32") return DType::F32;
  if (name == "bf16") return DType::BF16;
  if (name == "f16") return DType::F16;
  throw UsageError("--dtype: '" + name + "' is not one of f32, bf16, f16");
}

}  // namespace

const std::vector<std::string>& make_model_presets() {
  static const std::vector<std::string> names = {"tiny", "bench", "llava-1.5-7b-shape"};
  return names;
}

MadeModel make_model(const MakeModelOptions& o) {
  MadeModel m;
  m.config = resolve_config(o);
  const DType dtype = resolve_dtype(o);
  if (!(o.init_std > 0) || o.init_std > 1) throw UsageError("--std must be in (0, 1]");
  const std::vector<Spec> specs = tensor_specs(m.config);
  for (const auto& s : specs) m.parameters += static_cast<uint64_t>(s.numel());
  m.bytes = m.parameters * dtype_size(dtype);
  check_room(o, m.bytes);
  check_out_dir(o);
  int pad_id = m.config.image_token_index + 1;
  if (!o.tokenizer.empty()) copy_tokenizer(o.tokenizer, o.out_dir, &m.config, &pad_id, &m.files);

  const uint64_t limit = o.max_shard_bytes ? o.max_shard_bytes : std::min<uint64_t>(2ull << 30, (m.bytes + 1) / 2);
  const auto shards = plan_shards(specs, dtype, limit);
  std::map<std::string, std::string> weight_map;  // sorted by name, as save_pretrained writes it
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    spdlog::info("writing {} ({} tensors)", join_path(o.out_dir, name), shards[i].size());
    write_shard(join_path(o.out_dir, name), shards[i], dtype, o);
    for (const Spec* s : shards[i]) weight_map[s->name] = name;
    m.files.push_back(name);
  }
  OrderedJson index = {{"metadata", {{"total_size", m.bytes}}}, {"weight_map", weight_map}};
  const char* torch_dtype = dtype == DType::F32 ? "float32" : dtype == DType::BF16 ? "bfloat16" : "float16";
  const OrderedJson config = config_json(m.config, torch_dtype, pad_id);
  parse_llava_config(config.dump(), "make-model config.json");  // what lvlm-probe will read must parse
  const std::vector<std::pair<std::string, OrderedJson>> documents = {
      {"model.safetensors.index.json", index},
      {"preprocessor_config.json", preprocessor_json(m.config.vision.image_size)},
      {"generation_config.json", {{"bos_token_id", m.config.text.bos_token_id}, {"eos_token_id", m.config.text.eos_token_id},
                                  {"pad_token_id", pad_id}, {"transformers_version", "4.40.2"}}},
      {"config.json", config}};  // last: a directory without it is not mistaken for a checkpoint
  for (const auto& [name, json] : documents) {
    write_file_atomic(join_path(o.out_dir, name), json.dump(2) + "\n");
    m.files.push_back(name);
  }
  m.dtype = dtype_name(dtype);
  return m;
}

}  // namespace lvlm
