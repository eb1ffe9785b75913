// make-model for Qwen2-VL and Qwen2.5-VL: presets, the geometry flags, and the checkpoint as the
// published Qwen checkpoints store it (config.json with the language keys at the top level and
// rope_scaling {"type": "mrope"}, the tensors of names.h and ../block_tensors.h in the layout
// before transformers 4.52, Qwen2VLImageProcessor's preprocessor_config.json). Torch-free.
#include <filesystem>

#include "../block_tensors.h"
#include "config.h"
#include "family.h"
#include "lvlm_probe/common.h"
#include "names.h"

namespace lvlm::qwen2_vl {
namespace {

namespace fs = std::filesystem;

// What a preset fixes besides the geometry: the special tokens sit at fixed offsets from
// <|endoftext|> in Qwen's vocabularies (151643 in the released ones).
struct Preset {
  Config config;
  int endoftext = 0;
  int min_pixels = 56 * 56, max_pixels = 28 * 28 * 1280;  // Qwen2VLImageProcessor's defaults
  int fullatt_every = 8;                                  // Qwen2.5-VL: every 8th block attends fully
  DType dtype = DType::F32;
};

void set_token_ids(Config* c, int endoftext) {
  c->text.bos_token_id = endoftext;
  c->text.eos_token_id = endoftext + 2;  // <|im_end|>
  c->vision_start_token_id = endoftext + 9, c->vision_end_token_id = endoftext + 10;
  c->image_token_id = endoftext + 12, c->video_token_id = endoftext + 13;
}

Preset preset(const std::string& name) {
  Preset p;
  Config& c = p.config;
  lvlm::TextConfig& t = c.text;
  VisionConfig& v = c.vision;
  auto text = [&](int vocab, int hidden, int ff, int layers, int heads, int kv, int positions, bool tied) {
    t.vocab_size = vocab, t.hidden_size = hidden, t.intermediate_size = ff, t.num_hidden_layers = layers;
    t.num_attention_heads = heads, t.num_key_value_heads = kv, t.max_position_embeddings = positions;
    t.tie_word_embeddings = tied;
  };
  auto vision = [&](int depth, int width, int ff, int heads) {
    v.depth = depth, v.width = width, v.intermediate_size = ff, v.num_heads = heads;
  };
  const bool v25 = name.rfind("qwen2.5-vl", 0) == 0;
  c.version = v25 ? Version::qwen2_5_vl : Version::qwen2_vl;
  c.architecture = v25 ? kQwen25VLArchitecture : kQwen2VLArchitecture;
  if (v25) v.hidden_act = "silu", v.window_size = 112;
  if (name == "qwen2-vl-tiny") {  // the geometry of tests/data/tiny-qwen2-vl, so its tokenizer fits
    text(384, 64, 160, 4, 4, 2, 4096, false), vision(2, 32, 128, 2), p.endoftext = 360;
    p.min_pixels = 3136, p.max_pixels = 18816;
  } else if (name == "qwen2.5-vl-tiny") {  // tests/data/tiny-qwen2.5-vl's geometry
    text(448, 64, 160, 4, 4, 2, 4096, true), vision(4, 32, 80, 2), p.endoftext = 420;
    v.window_size = 56, p.fullatt_every = 2, p.min_pixels = 6272, p.max_pixels = 23520;
  } else if (name == "qwen2-vl-2b-shape") {  // Qwen/Qwen2-VL-2B-Instruct
    text(151936, 1536, 8960, 28, 12, 2, 32768, true), vision(32, 1280, 5120, 16), p.endoftext = 151643;
    p.dtype = DType::BF16;
  } else if (name == "qwen2.5-vl-7b-shape") {  // Qwen/Qwen2.5-VL-7B-Instruct
    text(152064, 3584, 18944, 28, 28, 4, 128000, false), vision(32, 1280, 3420, 16), p.endoftext = 151643;
    p.dtype = DType::BF16;
  } else {
    throw UsageError("--preset: '" + name + "' is not a Qwen2-VL preset");
  }
  t.model_type = "qwen2_vl_text", t.qkv_bias = true, t.rms_norm_eps = 1e-6, t.rope_theta = 1e6;
  return p;
}

// Overrides from the flags, then the rules the config parser applies, named by flag.
Preset resolve(const MakeModelOptions& o) {
  Preset p = preset(o.preset);
  lvlm::TextConfig& t = p.config.text;
  VisionConfig& v = p.config.vision;
  auto set = [](int flag_value, int* field, const char* flag) {
    if (flag_value < 0) throw UsageError(std::string(flag) + " must be positive");
    if (flag_value > 0) *field = flag_value;
  };
  if (o.image_size > 0)
    throw UsageError("--image-size: Qwen2-VL takes images of any size (the processor's min_pixels/max_pixels bound them)");
  set(o.layers, &t.num_hidden_layers, "--layers"), set(o.hidden, &t.hidden_size, "--hidden");
  set(o.intermediate, &t.intermediate_size, "--intermediate"), set(o.heads, &t.num_attention_heads, "--heads");
  set(o.kv_heads, &t.num_key_value_heads, "--kv-heads"), set(o.vocab, &t.vocab_size, "--vocab");
  set(o.max_positions, &t.max_position_embeddings, "--max-positions");
  set(o.vision_layers, &v.depth, "--vision-layers"), set(o.vision_hidden, &v.width, "--vision-hidden");
  set(o.vision_intermediate, &v.intermediate_size, "--vision-intermediate");
  set(o.vision_heads, &v.num_heads, "--vision-heads"), set(o.patch_size, &v.patch_size, "--patch-size");
  if (o.tie_embeddings) t.tie_word_embeddings = true;
  v.out_size = t.hidden_size;
  auto fail = [](const std::string& why) { throw UsageError("make-model: " + why); };
  if (t.hidden_size % t.num_attention_heads) fail("--hidden is not divisible by --heads");
  t.head_dim = t.hidden_size / t.num_attention_heads;
  if (t.head_dim % 8) fail("head dimension --hidden / --heads = " + std::to_string(t.head_dim) + " must be a multiple of 8 (M-RoPE sections)");
  if (t.num_attention_heads % t.num_key_value_heads) fail("--heads is not a multiple of --kv-heads");
  if (v.width % v.num_heads || v.head_dim() % 4) fail("--vision-hidden / --vision-heads must be a multiple of 4 (2-D rotary)");
  if (p.config.version == Version::qwen2_vl && v.intermediate_size % v.width)
    fail("--vision-intermediate must be a multiple of --vision-hidden (Qwen2-VL stores mlp_ratio)");
  // Qwen's split of the rotary frequencies, 1/4 temporal and 3/8 each for height and width.
  const int half = t.head_dim / 2;
  p.config.mrope_section = {half / 4, half * 3 / 8, half - half / 4 - half * 3 / 8};
  v.fullatt_block_indexes.clear();
  if (p.config.windowed())
    for (int i = p.fullatt_every - 1; i < v.depth; i += p.fullatt_every) v.fullatt_block_indexes.push_back(i);
  if (t.vocab_size < p.endoftext + 14) p.endoftext = t.vocab_size - 14;
  if (p.endoftext < 0) fail("--vocab must be at least 14 (Qwen's special tokens)");
  set_token_ids(&p.config, p.endoftext);
  return p;
}

// Qwen2VisionTransformerPretrainedModel's tensors in state_dict order.
std::vector<TensorSpec> vision_tensors(const Config& c, const WeightNames& n) {
  const VisionConfig& v = c.vision;
  const int64_t d = v.width, ff = v.intermediate_size, merged = int64_t(d) * v.merge_unit();
  const bool rms = c.windowed();
  std::vector<TensorSpec> s;
  auto linear = [&](const std::string& p, int64_t out, int64_t in) {
    s.push_back({p + ".weight", {out, in}, TensorInit::normal});
    s.push_back({p + ".bias", {out}, TensorInit::zeros});
  };
  auto norm = [&](const std::string& p) {
    s.push_back({p + ".weight", {d}, TensorInit::ones});
    if (!rms) s.push_back({p + ".bias", {d}, TensorInit::zeros});
  };
  s.push_back({n.patch_embed(), {d, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}, TensorInit::normal});
  for (int i = 0; i < v.depth; ++i) {
    const VisionBlockNames b = vision_block_names(n, i);
    norm(b.norm1), norm(b.norm2);
    linear(b.qkv, 3 * d, d), linear(b.proj, d, d);
    if (rms) linear(b.gate, ff, d), linear(b.up, ff, d), linear(b.down, d, ff);
    else linear(b.fc1, ff, d), linear(b.fc2, d, ff);
  }
  norm(n.merger_norm());
  linear(n.merger_linear(1), merged, merged), linear(n.merger_linear(2), v.out_size, merged);
  return s;
}

std::vector<TensorSpec> tensor_specs(const Config& c) {
  const WeightNames n = weight_names(/*new_layout=*/false);
  std::vector<TensorSpec> s = vision_tensors(c, n);
  const std::vector<TensorSpec> text = decoder_tensors(c.text, n.text);
  s.insert(s.end(), text.begin(), text.end());
  // save_pretrained leaves out a tied head: it is the embedding table.
  if (!c.text.tie_word_embeddings) s.push_back({n.lm_head, {c.text.vocab_size, c.text.hidden_size}, TensorInit::normal});
  return s;
}

OrderedJson vision_json(const Config& c) {
  const VisionConfig& v = c.vision;
  OrderedJson j = {{"depth", v.depth}};
  if (c.windowed()) {
    j.update({{"hidden_act", v.hidden_act}, {"hidden_size", v.width}, {"intermediate_size", v.intermediate_size},
              {"num_heads", v.num_heads}, {"in_chans", v.in_channels}, {"out_hidden_size", v.out_size},
              {"window_size", v.window_size}, {"fullatt_block_indexes", v.fullatt_block_indexes},
              {"tokens_per_second", 2}});
  } else {
    j.update({{"embed_dim", v.width}, {"mlp_ratio", v.intermediate_size / v.width}, {"num_heads", v.num_heads},
              {"in_chans", v.in_channels}, {"hidden_size", v.out_size}});
  }
  j.update({{"patch_size", v.patch_size}, {"spatial_merge_size", v.spatial_merge_size},
            {"spatial_patch_size", v.patch_size}, {"temporal_patch_size", v.temporal_patch_size}});
  return j;
}

OrderedJson config_json(const Config& c, const char* torch_dtype) {
  const lvlm::TextConfig& t = c.text;
  return {{"architectures", {c.architecture}}, {"attention_dropout", 0.0}, {"bos_token_id", t.bos_token_id},
          {"eos_token_id", t.eos_token_id}, {"vision_start_token_id", c.vision_start_token_id},
          {"vision_end_token_id", c.vision_end_token_id}, {"vision_token_id", c.vision_end_token_id + 1},
          {"image_token_id", c.image_token_id}, {"video_token_id", c.video_token_id}, {"hidden_act", "silu"},
          {"hidden_size", t.hidden_size}, {"initializer_range", 0.02}, {"intermediate_size", t.intermediate_size},
          {"max_position_embeddings", t.max_position_embeddings}, {"max_window_layers", t.num_hidden_layers},
          {"model_type", c.windowed() ? "qwen2_5_vl" : "qwen2_vl"}, {"num_attention_heads", t.num_attention_heads},
          {"num_hidden_layers", t.num_hidden_layers}, {"num_key_value_heads", t.num_key_value_heads},
          {"rms_norm_eps", t.rms_norm_eps}, {"rope_theta", t.rope_theta}, {"sliding_window", t.max_position_embeddings},
          {"tie_word_embeddings", t.tie_word_embeddings}, {"torch_dtype", torch_dtype},
          {"transformers_version", "4.49.0"}, {"use_cache", true}, {"use_sliding_window", false},
          {"vision_config", vision_json(c)},
          {"rope_scaling", {{"type", "mrope"}, {"mrope_section", c.mrope_section}}}, {"vocab_size", t.vocab_size}};
}

OrderedJson preprocessor_json(const Preset& p) {
  const VisionConfig& v = p.config.vision;
  return {{"min_pixels", p.min_pixels}, {"max_pixels", p.max_pixels}, {"patch_size", v.patch_size},
          {"temporal_patch_size", v.temporal_patch_size}, {"merge_size", v.spatial_merge_size},
          {"image_mean", {0.48145466, 0.4578275, 0.40821073}}, {"image_std", {0.26862954, 0.26130258, 0.27577711}},
          {"image_processor_type", "Qwen2VLImageProcessor"}, {"processor_class", "Qwen2VLProcessor"}};
}

// Copies tokenizer.json and the tokenizer files beside it; the special tokens' ids then come from
// its added tokens, which must fit the vocabulary.
void copy_tokenizer(const std::string& path, Config* c, std::vector<std::pair<std::string, std::string>>* files) {
  if (!file_exists(path)) throw InputError(path, "--tokenizer: file does not exist");
  const fs::path dir = fs::path(path).parent_path();
  const std::string text = read_file(path, JsonLimits{}.max_bytes);
  files->emplace_back("tokenizer.json", text);
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt"}) {
    const std::string from = (dir / name).string();
    if (file_exists(from)) files->emplace_back(name, read_file(from, JsonLimits{}.max_bytes));
  }
  const Json j = parse_json(text, path);
  auto added = j.find("added_tokens");
  if (added == j.end() || !added->is_array()) throw InputError(path, "--tokenizer: expected a tokenizer.json with added_tokens");
  for (const auto& token : *added) {
    const int id = json_require<int>(token, "id", path);
    const std::string content = json_require<std::string>(token, "content", path);
    if (id >= c->text.vocab_size)
      throw UsageError("--tokenizer " + path + ": token " + content + " (id " + std::to_string(id) +
                       ") is outside the model's vocabulary of " + std::to_string(c->text.vocab_size));
    if (content == "<|endoftext|>") c->text.bos_token_id = id;
    if (content == "<|im_end|>") c->text.eos_token_id = id;
    if (content == "<|vision_start|>") c->vision_start_token_id = id;
    if (content == "<|vision_end|>") c->vision_end_token_id = id;
    if (content == "<|image_pad|>") c->image_token_id = id;
    if (content == "<|video_pad|>") c->video_token_id = id;
  }
}

std::string summary(const Config& c) {
  return std::string(c.windowed() ? "Qwen2.5-VL" : "Qwen2-VL") + ": text " + std::to_string(c.text.num_hidden_layers) +
         " layers x " + std::to_string(c.text.hidden_size) + ", vocab " + std::to_string(c.text.vocab_size) +
         "; vision " + std::to_string(c.vision.depth) + " blocks x " + std::to_string(c.vision.width) +
         ", image tokens by image size";
}

}  // namespace

const std::vector<std::string>& presets() {
  static const std::vector<std::string> names = {"qwen2-vl-tiny", "qwen2.5-vl-tiny", "qwen2-vl-2b-shape",
                                                 "qwen2.5-vl-7b-shape"};
  return names;
}

CheckpointPlan plan_checkpoint(const MakeModelOptions& o) {
  Preset p = resolve(o);
  Config& c = p.config;
  CheckpointPlan plan;
  plan.dtype = make_model_dtype(o, p.dtype);
  plan.tensors = tensor_specs(c);
  if (!o.tokenizer.empty()) copy_tokenizer(o.tokenizer, &c, &plan.files);
  const OrderedJson config = config_json(c, torch_dtype_name(plan.dtype));
  // What lvlm-probe will read must parse, to the same geometry.
  const Config back = parse_config(config.dump(), "make-model config.json");
  if (back.vision.intermediate_size != c.vision.intermediate_size || back.mrope_section != c.mrope_section)
    throw UsageError("make-model: the geometry does not survive config.json");
  plan.documents = {{"preprocessor_config.json", preprocessor_json(p)},
                    {"generation_config.json", {{"bos_token_id", c.text.bos_token_id},
                                                {"eos_token_id", {c.text.eos_token_id, c.text.bos_token_id}},
                                                {"transformers_version", "4.49.0"}}},
                    {"config.json", config}};
  plan.summary = summary(c);
  return plan;
}

}  // namespace lvlm::qwen2_vl
