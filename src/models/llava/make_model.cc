// make-model for LLaVA: presets, the geometry flags, and the checkpoint of transformers 4.40's
// LlavaForConditionalGeneration (config.json with text_config/vision_config, the tensors of
// names.h and ../block_tensors.h, preprocessor and generation configs). Torch-free.
#include <filesystem>

#include "config.h"
#include "family.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/text.h"
#include "names.h"

namespace lvlm::llava {
namespace {

namespace fs = std::filesystem;

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

// Tensors of LlavaForConditionalGeneration in state_dict order (transformers 4.40 names).
std::vector<TensorSpec> tensor_specs(const LlavaConfig& c) {
  const WeightNames n = weight_names_before_4_52();
  const int64_t vd = c.vision.hidden_size, td = c.text.hidden_size;
  std::vector<TensorSpec> s = clip_tensors(c.vision, n.vision);
  for (int i : {1, 2}) {
    s.push_back({n.projector_linear(i) + ".weight", {td, i == 1 ? vd : td}, TensorInit::normal});
    s.push_back({n.projector_linear(i) + ".bias", {td}, TensorInit::zeros});
  }
  const std::vector<TensorSpec> text = decoder_tensors(c.text, n.text);
  s.insert(s.end(), text.begin(), text.end());
  // save_pretrained leaves out a tied head: it is the embedding table.
  if (!c.text.tie_word_embeddings) s.push_back({n.lm_head, {c.text.vocab_size, td}, TensorInit::normal});
  return s;
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
void copy_tokenizer(const std::string& model_file, LlavaConfig* c, int* pad_id,
                    std::vector<std::pair<std::string, std::string>>* files) {
  if (!file_exists(model_file)) throw InputError(model_file, "--tokenizer: file does not exist");
  const fs::path dir = fs::path(model_file).parent_path();
  files->emplace_back("tokenizer.model", read_file(model_file, kMaxTokenizerModelBytes));
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"}) {
    const std::string from = (dir / name).string();
    if (!file_exists(from)) continue;
    files->emplace_back(name, read_file(from, JsonLimits{}.max_bytes));
  }
  Tokenizer tok = Tokenizer::load(model_file, dir.empty() ? std::string(".") : dir.string());
  if (tok.vocab_size() > c->text.vocab_size)
    throw UsageError("--tokenizer " + model_file + " has " + std::to_string(tok.vocab_size()) +
                     " tokens, more than the model's vocabulary of " + std::to_string(c->text.vocab_size));
  if (auto image = tok.added_token_id("<image>")) c->image_token_index = *image;
  if (auto pad = tok.added_token_id("<pad>")) *pad_id = *pad;
}

std::string summary(const LlavaConfig& c) {
  return "text " + std::to_string(c.text.num_hidden_layers) + " layers x " + std::to_string(c.text.hidden_size) +
         ", vocab " + std::to_string(c.text.vocab_size) + "; vision " + std::to_string(c.vision.num_hidden_layers) +
         " layers x " + std::to_string(c.vision.hidden_size) + ", " + std::to_string(c.num_image_features()) +
         " image features";
}

}  // namespace

const std::vector<std::string>& presets() {
  static const std::vector<std::string> names = {"tiny", "bench", "llava-1.5-7b-shape"};
  return names;
}

CheckpointPlan plan_checkpoint(const MakeModelOptions& o) {
  LlavaConfig c = resolve_config(o);
  CheckpointPlan plan;
  plan.dtype = make_model_dtype(o, o.preset == "llava-1.5-7b-shape" ? DType::BF16 : DType::F32);
  plan.tensors = tensor_specs(c);
  int pad_id = c.image_token_index + 1;
  if (!o.tokenizer.empty()) copy_tokenizer(o.tokenizer, &c, &pad_id, &plan.files);
  const OrderedJson config = config_json(c, torch_dtype_name(plan.dtype), pad_id);
  parse_llava_config(config.dump(), "make-model config.json");  // what lvlm-probe will read must parse
  plan.documents = {
      {"preprocessor_config.json", preprocessor_json(c.vision.image_size)},
      {"generation_config.json", {{"bos_token_id", c.text.bos_token_id}, {"eos_token_id", c.text.eos_token_id},
                                  {"pad_token_id", pad_id}, {"transformers_version", "4.40.2"}}},
      {"config.json", config}};
  plan.summary = summary(c);
  return plan;
}

}  // namespace lvlm::llava
