// ProbeResult -> the report JSON of docs/report-schema.md. Key order is fixed (ordered_json) so that reports
// diff cleanly; NaN (e.g. d_prev at layer 0) is written as null.
#include "lvlm_probe/report.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "json_parts.h"
#include "lvlm_probe/version.h"

namespace lvlm {
namespace {

}  // namespace

OrderedJson stage_options_json(const StageOptions& o) {
  OrderedJson j;
  j["method"] = stage_method_name(o.method);
  j["critical_layer"] = o.critical_layer ? OrderedJson(o.critical_layer) : OrderedJson(nullptr);
  j["window"] = o.window_first ? OrderedJson({o.window_first, o.window_last}) : OrderedJson(nullptr);
  j["config"] = o.config ? OrderedJson(o.config->path) : OrderedJson(nullptr);
  j["final_norm_step"] = o.search_final_norm_step ? "include" : "exclude";
  return j;
}

OrderedJson tool_json() {
  return {{"name", "lvlm-probe"}, {"version", LVLM_PROBE_VERSION}, {"git", build_commit()}};
}

namespace {

OrderedJson model_json(const ModelInfo& m) {
  return {{"path", m.path},
          {"family", m.family},
          {"architecture", m.architecture},
          {"num_layers", m.num_layers},
          {"hidden_size", m.hidden_size},
          {"vocab_size", m.vocab_size},
          {"weights_dtype", m.weights_dtype},
          {"dtype", m.compute_dtype},
          {"device", m.device}};
}

OrderedJson input_json(const ProbeResult& r) {
  OrderedJson j;
  j["image"] = r.request.image.empty() ? OrderedJson(nullptr) : OrderedJson(r.request.image);
  j["image_sha256"] = r.image_sha256.empty() ? OrderedJson(nullptr) : OrderedJson(r.image_sha256);
  j["prompt"] = r.request.input_ids.empty() ? OrderedJson(r.request.prompt) : OrderedJson(nullptr);
  j["template"] = r.request.input_ids.empty() ? OrderedJson(r.request.template_name) : OrderedJson(nullptr);
  j["prompt_text"] = r.prompt_text;
  j["prompt_ids"] = r.prompt_ids;
  j["image_token_positions"] = r.image_positions;
  j["num_image_features"] = r.image_positions.size();
  j["sequence_length"] = r.sequence_length;
  return j;
}

OrderedJson settings_json(const ProbeRequest& q, const DeviceOptions& device) {
  OrderedJson j;
  j["lens"] = lens_mode_name(q.lens);
  j["divergence"] = divergence_name(q.divergence);
  j["top_k"] = q.top_k;
  j["max_new_tokens"] = q.max_new_tokens;
  j["stop_at_eos"] = q.stop_at_eos;
  j["pad_square"] = q.pad_square;
  j["stages"] = stage_options_json(q.stages);
  j["skip_layers"] = q.skip_layers;
  j["skip_stabilization"] = q.skip_stabilization;
  j["positions"] = positions_name(q);
  j["attention"] = q.attention;
  j["dtype"] = device.dtype;
  j["reduced_math"] = device.reduced_math;
  j["threads"] = device.threads;
  return j;
}

OrderedJson provenance_json(const Provenance& p) {
  auto text = [](const std::string& s) { return s.empty() ? OrderedJson(nullptr) : OrderedJson(s); };
  return {{"created", text(p.created)},          {"libtorch", text(p.libtorch)},
          {"blas", text(p.blas)},                {"onednn", text(p.onednn)},
          {"cpu", text(p.cpu)},                  {"cpu_isa", text(p.cpu_isa)},
          {"device", text(p.device)},            {"config_sha256", text(p.config_sha256)},
          {"weights_header_sha256", text(p.weights_header_sha256)}};
}

OrderedJson topk_json(const TokenTrace& t, const std::map<int, std::string>& pieces) {
  OrderedJson topk = OrderedJson::array();
  for (size_t l = 0; l < t.topk_ids.size(); ++l) {
    OrderedJson texts = OrderedJson::array();
    for (int id : t.topk_ids[l]) texts.push_back(pieces.at(id));
    topk.push_back({{"ids", t.topk_ids[l]}, {"pieces", texts}, {"probs", finite_numbers(t.topk_probs[l])}});
  }
  return topk;
}

// The tokens that are top-1 at some layer, each with its probability at every layer.
OrderedJson competitors_json(const TokenTrace& t, const std::map<int, std::string>& pieces) {
  OrderedJson out = OrderedJson::array();
  for (size_t j = 0; j < t.competitor_ids.size(); ++j)
    out.push_back({{"id", t.competitor_ids[j]}, {"piece", pieces.at(t.competitor_ids[j])},
                   {"p", finite_numbers(t.competitor_probs[j])}});
  return out;
}

OrderedJson token_json(const TokenTrace& t, const std::string& text, const std::map<int, std::string>& pieces,
                       const TokenStages& stages) {
  OrderedJson j;
  j["step"] = t.step;
  j["position"] = t.position;
  j["id"] = t.token_id;
  j["piece"] = text;
  add_token_stages(j, stages);
  j["p_token"] = finite_numbers(t.p_token);
  j["rank"] = t.rank;
  j["entropy"] = finite_numbers(t.entropy);
  j["d_prev"] = finite_numbers(t.d_prev);
  j["d_final"] = finite_numbers(t.d_final);
  j["h_norm"] = finite_numbers(t.h_norm);
  j["cos_prev"] = finite_numbers(t.cos_prev);
  j["cos_final"] = finite_numbers(t.cos_final);
  j["topk"] = topk_json(t, pieces);
  j["competitors"] = competitors_json(t, pieces);
  if (!t.attention.empty()) j["attention"] = token_attention_json(t.attention);
  return j;
}

// --positions all: a prompt position with the per-layer arrays of tokens[] for the id it predicts.
OrderedJson prompt_position_json(const TokenTrace& t, const ProbeResult& r, const std::map<int, std::string>& pieces) {
  const bool image = std::binary_search(r.image_positions.begin(), r.image_positions.end(), t.position);
  const bool has_next = t.token_id >= 0;
  OrderedJson j;
  j["position"] = t.position;
  j["kind"] = image ? "image" : "text";
  j["next_id"] = has_next ? OrderedJson(t.token_id) : OrderedJson(nullptr);
  j["next_piece"] = has_next ? OrderedJson(pieces.at(t.token_id)) : OrderedJson(nullptr);
  j["p_next"] = has_next ? finite_numbers(t.p_token) : OrderedJson(nullptr);
  j["rank_next"] = has_next ? OrderedJson(t.rank) : OrderedJson(nullptr);
  j["entropy"] = finite_numbers(t.entropy);
  j["d_prev"] = finite_numbers(t.d_prev);
  j["d_final"] = finite_numbers(t.d_final);
  j["h_norm"] = finite_numbers(t.h_norm);
  j["cos_prev"] = finite_numbers(t.cos_prev);
  j["cos_final"] = finite_numbers(t.cos_final);
  j["topk"] = topk_json(t, pieces);
  return j;
}

// The per-layer view: each metric summarised over the generated tokens.
OrderedJson layers_json(const ProbeResult& r) {
  using Field = std::vector<double> TokenTrace::*;
  const std::pair<const char*, Field> fields[] = {
      {"p_token", &TokenTrace::p_token}, {"entropy", &TokenTrace::entropy}, {"d_prev", &TokenTrace::d_prev},
      {"d_final", &TokenTrace::d_final}, {"h_norm", &TokenTrace::h_norm},   {"cos_prev", &TokenTrace::cos_prev},
      {"cos_final", &TokenTrace::cos_final}};
  OrderedJson layers = OrderedJson::array();
  for (int l = 0; l <= r.model.num_layers; ++l) {
    OrderedJson j;
    j["layer"] = l;
    j["tap"] = l == 0 ? "blocks.0.hook_resid_pre" : "blocks." + std::to_string(l - 1) + ".hook_resid_post";
    j["stage"] = stage_of_layer(r.stages, l);
    for (const auto& [name, field] : fields) {
      std::vector<double> values;
      for (const auto& t : r.tokens) values.push_back((t.*field)[static_cast<size_t>(l)]);
      j[name] = value_summary_json(summarize_values(values));
    }
    std::vector<double> ranks;
    for (const auto& t : r.tokens) ranks.push_back(static_cast<double>(t.rank[static_cast<size_t>(l)]));
    j["rank"] = value_summary_json(summarize_values(ranks));
    layers.push_back(j);
  }
  return layers;
}

OrderedJson skip_json(const SkipComparison& s) {
  return {{"mode", s.mode},
          {"layers", s.layers},
          {"token_ids", s.token_ids},
          {"text", s.text},
          {"stop_reason", s.stop_reason},
          {"note", s.note.empty() ? OrderedJson(nullptr) : OrderedJson(s.note)},
          {"agreement",
           {{"identical", s.identical},
            {"matching_prefix", s.matching_prefix},
            {"position_agreement", s.position_agreement},
            {"token_overlap", s.token_overlap}}}};
}

}  // namespace

OrderedJson finite_numbers(const std::vector<double>& values) {
  OrderedJson a = OrderedJson::array();
  for (double x : values) a.push_back(std::isfinite(x) ? OrderedJson(x) : OrderedJson(nullptr));
  return a;
}

OrderedJson value_summary_json(const ValueSummary& s) {
  if (s.count == 0) return nullptr;
  return {{"mean", s.mean}, {"median", s.median}, {"q1", s.q1}, {"q3", s.q3}, {"min", s.min}, {"max", s.max}};
}

OrderedJson optional_layer(const std::optional<int>& layer) { return layer ? OrderedJson(*layer) : OrderedJson(nullptr); }

void add_token_stages(OrderedJson& token, const TokenStages& t) {
  token["critical_layer"] = optional_layer(t.critical_layer);
  token["mutation_layer"] = optional_layer(t.mutation_layer);
  token["critical_confidence"] = t.critical_confidence;
  token["mutation_confidence"] = t.mutation_confidence;
}

OrderedJson stages_json(const StageResult& s) {
  OrderedJson segments = OrderedJson::array();
  for (const auto& seg : s.segments)
    segments.push_back({{"name", seg.name}, {"first_layer", seg.first_layer}, {"last_layer", seg.last_layer}});
  OrderedJson j;
  j["method"] = s.method;
  j["critical_layer"] = optional_layer(s.overall.critical_layer);
  j["critical_confidence"] = s.overall.critical_confidence;
  j["mutation_layer"] = optional_layer(s.overall.mutation_layer);
  j["mutation_confidence"] = s.overall.mutation_confidence;
  j["final_norm_step"] = s.final_norm_step ? OrderedJson({{"layer", s.final_norm_step->layer},
                                                          {"divergence", s.final_norm_step->divergence},
                                                          {"note", s.final_norm_step->note}})
                                           : OrderedJson(nullptr);
  j["mutation_window"] = s.window_first ? OrderedJson({s.window_first, s.window_last}) : OrderedJson(nullptr);
  j["critical_layer_mode"] = optional_layer(s.critical_layer_mode);
  j["mutation_layer_mode"] = optional_layer(s.mutation_layer_mode);
  j["candidates"] = {{"critical_layer", s.overall.critical_candidate ? OrderedJson(s.overall.critical_candidate)
                                                                      : OrderedJson(nullptr)},
                     {"mutation_layer", s.overall.mutation_candidate ? OrderedJson(s.overall.mutation_candidate)
                                                                      : OrderedJson(nullptr)}};
  j["noise"] = s.noise;
  j["config"] = s.config.empty() ? OrderedJson(nullptr) : OrderedJson(s.config);
  j["segments"] = segments;
  j["aggregate_curve"] = finite_numbers(s.aggregate_curve);
  return j;
}

OrderedJson build_report(const ProbeResult& r) {
  OrderedJson j;
  j["schema"] = kReportSchema;
  j["tool"] = tool_json();
  j["model"] = model_json(r.model);
  j["input"] = input_json(r);
  j["settings"] = settings_json(r.request, r.device);
  j["provenance"] = provenance_json(r.provenance);
  j["output"] = {{"token_ids", r.token_ids}, {"text", r.text}, {"stop_reason", r.stop_reason}};
  std::map<int, std::string> pieces(r.pieces.begin(), r.pieces.end());
  OrderedJson tokens = OrderedJson::array();
  for (size_t i = 0; i < r.tokens.size(); ++i)
    tokens.push_back(token_json(r.tokens[i], r.token_texts[i], pieces, r.stages.per_token[i]));
  j["tokens"] = tokens;
  if (r.request.prompt_positions) {
    OrderedJson prompt = OrderedJson::array();
    for (const auto& t : r.prompt_positions) prompt.push_back(prompt_position_json(t, r, pieces));
    j["prompt_positions"] = prompt;
  }
  if (r.image_lens) j["image_positions"] = image_positions_json(*r.image_lens, r.image_positions.front(), pieces);
  j["layers"] = layers_json(r);
  if (r.request.attention) j["attention"] = attention_summary_json(r.tokens, r.model.num_layers);
  j["stages"] = stages_json(r.stages);
  j["skip"] = r.skip ? skip_json(*r.skip) : OrderedJson(nullptr);
  j["timing"] = {{"load", r.timing.load},     {"vision", r.timing.vision}, {"prefill", r.timing.prefill},
                 {"decode", r.timing.decode}, {"lens", r.timing.lens},     {"total", r.timing.total}};
  return j;
}

void write_report(const std::string& path, const OrderedJson& report) { write_file_atomic(path, dump_json(report)); }

}  // namespace lvlm
