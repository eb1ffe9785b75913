// The probe pipeline: image -> pixels, prompt -> ids, greedy decoding with the logit lens
// watching every layer, stage boundaries from the divergences, and an optional skipped run.
#include "lvlm_probe/probe.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "lvlm_probe/attention.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/family.h"
#include "lvlm_probe/image.h"
#include "lvlm_probe/lens.h"
#include "lvlm_probe/models.h"
#include "lvlm_probe/processor.h"
#include "lvlm_probe/stopwatch.h"
#include "features.h"
#include "finite_guard.h"
#include "image_lens.h"
#include "provenance.h"

namespace lvlm {
namespace {

std::vector<std::vector<double>> divergences_of(const std::vector<TokenTrace>& tokens) {
  std::vector<std::vector<double>> d;
  for (const auto& t : tokens) d.emplace_back(t.d_prev.begin() + 1, t.d_prev.end());
  return d;
}

// --stages fixed without a layer or a file: the model's own file from configs/.
StageOptions resolve_stage_options(const ProbeRequest& r, const ModelInfo& info) {
  StageOptions o = r.stages;
  o.final_norm_step = r.lens == LensMode::hf;
  if (o.method != StageOptions::Method::fixed || o.critical_layer > 0 || o.config) return o;
  o.config = find_stage_config(r.stage_configs_dir, info.family, info.num_layers, info.hidden_size);
  if (!o.config)
    throw UsageError("--stages fixed: give --critical-layer or --stage-config; no file in " + r.stage_configs_dir +
                     " is for a " + info.family + " model with " + std::to_string(info.num_layers) +
                     " layers and hidden size " + std::to_string(info.hidden_size));
  return o;
}

LensOptions lens_options_of(const ProbeRequest& r) {
  LensOptions o;
  o.mode = r.lens;
  o.divergence = r.divergence;
  o.top_k = r.top_k;
  o.keep_hidden = !r.dump_features.empty();
  o.prompt_positions = r.prompt_positions || r.image_positions;
  return o;
}

GenerateOptions generate_options_of(const ProbeRequest& r) {
  GenerateOptions o;
  o.max_new_tokens = r.max_new_tokens;
  o.stop_at_eos = r.stop_at_eos;
  return o;
}

// The id each prompt position predicts: the next input id, -1 where the next position holds an
// image feature, and the first generated token after the last position. One image token in the
// prompt stands for the run of features; an already-expanded run stands for itself.
std::vector<int> next_prompt_ids(const ProbeResult& r, int image_token) {
  const auto images = std::count(r.prompt_ids.begin(), r.prompt_ids.end(), image_token);
  std::vector<int> sequence;
  for (int id : r.prompt_ids) {
    if (id != image_token) sequence.push_back(id);
    else sequence.insert(sequence.end(), images == 1 ? r.image_positions.size() : 1, -1);
  }
  if (static_cast<int64_t>(sequence.size()) != r.sequence_length || r.token_ids.empty())
    throw RuntimeFailure("--positions all: the expanded prompt has " + std::to_string(sequence.size()) +
                         " positions, the model saw " + std::to_string(r.sequence_length));
  sequence.erase(sequence.begin());
  sequence.push_back(r.token_ids.front());
  return sequence;
}

// The lens at the image positions: taken from the prompt positions' traces when every prompt
// position is measured (--positions all, which computes them anyway), else measured alone.
std::vector<TokenTrace> image_traces(ProbeResult& r, LogitLens& lens, int image_token) {
  if (r.request.prompt_positions) {
    r.prompt_positions = lens.prompt_statistics(next_prompt_ids(r, image_token));
    std::vector<TokenTrace> out;
    for (int64_t p : r.image_positions) {
      out.push_back(r.prompt_positions.at(static_cast<size_t>(p)));
      out.back().token_id = -1;
    }
    return out;
  }
  return lens.position_statistics(r.image_positions);
}

// Why `--skip stabilization` skipped nothing.
std::string nothing_to_skip(const StageResult& s) {
  if (!s.critical_layer()) return "the critical layer is undetermined, so there is no stabilization stage to skip";
  return "the stabilization stage is empty (mutation at layer " + std::to_string(*s.mutation_layer()) +
         ", right after the critical layer " + std::to_string(*s.critical_layer()) + "), so nothing was skipped";
}

}  // namespace

void check_request(const ProbeRequest& request, int num_layers) {
  if (request.skip_stabilization && !request.skip_layers.empty())
    throw UsageError("--skip-layers and --skip stabilization do not go together: give one");
  for (int l : request.skip_layers)
    if (l < 1 || l > num_layers)
      throw UsageError("--skip-layers: layer " + std::to_string(l) + " is outside 1-" + std::to_string(num_layers) +
                       " (the model has " + std::to_string(num_layers) + " decoder layers)");
}

struct ProbeSession::Impl {
  SessionOptions options;
  std::unique_ptr<VisionLanguageModel> model;
  std::unique_ptr<Processor> processor;  // the family's: tokenizer, image preprocessing, templates
  double load_seconds = 0;

  std::string template_of(const ProbeRequest& r) const {
    return r.template_name.empty() ? processor->default_template() : r.template_name;
  }
  void check_prompt(const ProbeRequest& r) const;  // the template, and a tokenizer for --prompt
  std::vector<int> prompt_ids(const ProbeRequest& r, const PreparedImage* image, std::string* prompt_text) const;
  std::optional<PreparedImage> image(const ProbeRequest& r, std::string* sha256, ImageU8* decoded) const;
  // The request's image and prompt ids into `result`; the image as the model takes it.
  // `decoded` (may be null) receives the image as decoded.
  ImageInput prepare(const ProbeRequest& r, ProbeResult* result, ImageU8* decoded = nullptr) const;
  std::string decode(const std::vector<int>& ids) const {
    return processor->tokenizer() ? processor->tokenizer()->decode(ids) : "";
  }
  std::string token_text(int id) const { return processor->tokenizer() ? processor->tokenizer()->token_text(id) : ""; }
};

void ProbeSession::Impl::check_prompt(const ProbeRequest& r) const {
  if (!r.input_ids.empty()) return;
  processor->require_tokenizer();
  processor->check_template(template_of(r));
}

std::vector<int> ProbeSession::Impl::prompt_ids(const ProbeRequest& r, const PreparedImage* image,
                                                std::string* prompt_text) const {
  if (!r.input_ids.empty()) return r.input_ids;
  std::vector<int> ids = processor->prompt_ids(template_of(r), r.prompt, image);
  *prompt_text = processor->prompt_text(template_of(r), r.prompt);
  return ids;
}

ImageInput ProbeSession::Impl::prepare(const ProbeRequest& r, ProbeResult* result, ImageU8* decoded) const {
  check_prompt(r);  // before the image: a prompt no image can fix is the first error
  const std::optional<PreparedImage> prepared = image(r, &result->image_sha256, decoded);
  result->prompt_ids = prompt_ids(r, prepared ? &*prepared : nullptr, &result->prompt_text);
  if (!prepared) return {};
  result->image_geometry = prepared->geometry;
  return ImageInput::from(*prepared);
}

std::optional<PreparedImage> ProbeSession::Impl::image(const ProbeRequest& r, std::string* sha256,
                                                      ImageU8* decoded) const {
  if (r.image.empty()) return std::nullopt;
  // One bounded read for both the hash and the decoder: the image's file-size cap holds for both.
  const std::string bytes = read_file(r.image, DecodeLimits{}.max_file_bytes);
  *sha256 = sha256_hex(bytes);
  ImageOptions options;
  options.pad_square = r.pad_square;
  ImageU8 pixels = decode_image_bytes(bytes, r.image);
  PreparedImage prepared = processor->prepare_image(pixels, options, r.image);
  if (decoded) *decoded = std::move(pixels);
  return prepared;
}

ProbeSession::ProbeSession(const SessionOptions& options) : impl_(std::make_unique<Impl>()) {
  const Stopwatch clock;
  impl_->options = options;
  impl_->model = load_model(options.model_dir, options.device);
  impl_->processor = family_of_model(options.model_dir).processor(options.model_dir);
  impl_->load_seconds = clock.seconds();
}

ProbeSession::~ProbeSession() = default;

const ModelInfo& ProbeSession::model() const { return impl_->model->info(); }

std::string ProbeSession::template_for(const ProbeRequest& request) const { return impl_->template_of(request); }

void ProbeSession::check(const ProbeRequest& request) const {
  const Impl& s = *impl_;
  const ModelInfo& info = s.model->info();
  s.check_prompt(request);
  const LogitLens lens(*s.model, lens_options_of(request));  // its constructor checks top-k
  GenerateOptions gen = generate_options_of(request);
  gen.skip_layers = request.skip_layers;
  check_generate_options(gen, info);
  // The stage options against this model's L, by the function run() applies to the data; a flat
  // curve of one token stands in for the data, which cannot change what is refused.
  detect_stages({std::vector<double>(static_cast<size_t>(info.num_layers), 1.0)}, resolve_stage_options(request, info));
}

ProbeResult ProbeSession::run(const ProbeRequest& request) {
  const Stopwatch clock;
  Impl& s = *impl_;
  check_request(request, s.model->info().num_layers);
  ProbeResult r;
  r.model = s.model->info();
  r.request = request;
  r.request.template_name = s.template_of(request);
  r.request.stages = resolve_stage_options(request, r.model);
  r.device = s.options.device;
  r.provenance = collect_provenance(s.options.model_dir, r.model);
  ImageU8 decoded;
  const ImageInput pixels = s.prepare(request, &r, &decoded);

  LogitLens lens(*s.model, lens_options_of(request));
  AttentionProbe attention(&lens);
  FiniteGuard guard(s.model->info(), request.attention ? static_cast<HiddenStateObserver*>(&attention) : &lens);
  GenerateOptions gen = generate_options_of(request);
  gen.observer = &guard;
  GenerateResult out = generate_greedy(*s.model, r.prompt_ids, pixels, gen);
  check_lens_finite(lens.traces(), s.model->info());

  r.image_positions = out.image_positions;
  r.sequence_length = out.prompt_length;
  r.token_ids = out.token_ids;
  r.stop_reason = out.stop_reason;
  r.text = s.decode(out.token_ids);
  r.tokens = lens.traces();
  if (request.attention)
    for (size_t i = 0; i < r.tokens.size(); ++i) r.tokens[i].attention = attention.shares().at(i);
  if (request.image_positions && r.image_positions.empty())
    spdlog::warn("--positions image: the prompt holds no image features, so the report has no image_positions");
  if (request.image_positions && !r.image_positions.empty())
    r.image_lens = make_image_lens(r.image_geometry, decoded, image_traces(r, lens, s.model->info().image_token_index));
  if (request.prompt_positions && r.prompt_positions.empty())
    r.prompt_positions = lens.prompt_statistics(next_prompt_ids(r, s.model->info().image_token_index));
  std::set<int> ids;
  for (const auto& t : r.tokens) {
    r.token_texts.push_back(s.token_text(t.token_id));
    for (const auto& row : t.topk_ids) ids.insert(row.begin(), row.end());
    ids.insert(t.competitor_ids.begin(), t.competitor_ids.end());
  }
  if (r.image_lens)
    for (const auto& t : r.image_lens->positions)
      for (const auto& row : t.topk_ids) ids.insert(row.begin(), row.end());
  for (const auto& t : r.prompt_positions) {
    if (t.token_id >= 0) ids.insert(t.token_id);
    for (const auto& row : t.topk_ids) ids.insert(row.begin(), row.end());
  }
  for (int id : ids) r.pieces.emplace_back(id, s.token_text(id));
  r.stages = detect_stages(divergences_of(r.tokens), r.request.stages);
  if (!request.dump_features.empty()) write_features(request.dump_features, r, lens.hidden());

  r.timing.load = s.load_seconds;
  r.timing.vision = out.vision_seconds;
  r.timing.prefill = out.prefill_seconds;
  r.timing.decode = out.decode_seconds;
  r.timing.lens = lens.seconds() + attention.seconds();

  if (request.skip_stabilization || !request.skip_layers.empty()) {
    const std::vector<int> layers = request.skip_stabilization ? stabilization_layers(r.stages) : request.skip_layers;
    // Nothing to skip: the skipped run would be the full run again.
    GenerateResult sk = out;
    if (!layers.empty()) {
      GenerateOptions skipped = gen;
      FiniteGuard skipped_guard(s.model->info(), nullptr);
      skipped.observer = &skipped_guard;
      skipped.skip_layers = layers;
      sk = generate_greedy(*s.model, r.prompt_ids, pixels, skipped);
    }
    SkipComparison cmp = compare_outputs(r.token_ids, sk.token_ids);
    cmp.mode = request.skip_stabilization ? "stabilization" : "layers";
    cmp.layers = layers;
    cmp.token_ids = sk.token_ids;
    cmp.text = s.decode(sk.token_ids);
    cmp.stop_reason = sk.stop_reason;
    if (layers.empty()) cmp.note = nothing_to_skip(r.stages);
    r.skip = cmp;
  }
  r.timing.total = s.load_seconds + clock.seconds();
  s.load_seconds = 0;  // loading is charged to the first probe of a session only
  return r;
}

ProbeResult ProbeSession::generate(const ProbeRequest& request) {
  const Stopwatch clock;
  Impl& s = *impl_;
  ProbeResult r;
  r.model = s.model->info();
  r.request = request;
  r.request.template_name = s.template_of(request);
  const ImageInput pixels = s.prepare(request, &r);
  GenerateResult out = generate_greedy(*s.model, r.prompt_ids, pixels, generate_options_of(request));
  r.image_positions = out.image_positions;
  r.sequence_length = out.prompt_length;
  r.token_ids = out.token_ids;
  r.stop_reason = out.stop_reason;
  r.text = s.decode(out.token_ids);
  r.timing.load = s.load_seconds;
  r.timing.vision = out.vision_seconds;
  r.timing.prefill = out.prefill_seconds;
  r.timing.decode = out.decode_seconds;
  r.timing.total = s.load_seconds + clock.seconds();
  s.load_seconds = 0;
  return r;
}

SkipComparison compare_outputs(const std::vector<int>& full, const std::vector<int>& skipped) {
  SkipComparison c;
  const size_t n = std::min(full.size(), skipped.size()), longest = std::max(full.size(), skipped.size());
  while (c.matching_prefix < static_cast<int>(n) && full[c.matching_prefix] == skipped[c.matching_prefix])
    ++c.matching_prefix;
  size_t same = 0;
  for (size_t i = 0; i < n; ++i) same += full[i] == skipped[i];
  c.position_agreement = longest ? double(same) / double(longest) : 1.0;
  std::map<int, int> bag;
  for (int t : full) ++bag[t];
  size_t common = 0;
  for (int t : skipped)
    if (bag[t]-- > 0) ++common;
  c.token_overlap = full.size() + skipped.size() ? 2.0 * double(common) / double(full.size() + skipped.size()) : 1.0;
  c.identical = full == skipped;
  return c;
}

}  // namespace lvlm
