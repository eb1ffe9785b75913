// SummaryInput -> the summary JSON (schema lvlm-probe/summary/1, docs/batch.md). Its `layers`
// and `stages` have the shape of a report's, over all tokens of all items, so readers of one
// can read the other. Key order is fixed; NaN is written as null.
#include <cmath>

#include "json_parts.h"
#include "lvlm_probe/report.h"

namespace lvlm {
namespace {

OrderedJson number(double v) { return std::isfinite(v) ? OrderedJson(v) : OrderedJson(nullptr); }

OrderedJson items_json(const SummaryInput& in) {
  OrderedJson failures = OrderedJson::array();  // older readers' form: the run as an index
  for (const auto& f : in.failures) failures.push_back({{"run", f.run}, {"id", f.id}, {"error", f.reason}});
  return {{"total", in.total}, {"ok", in.ok}, {"failed", in.failed}, {"tokens", in.tokens}, {"failures", failures}};
}

OrderedJson failed_items_json(const SummaryInput& in) {
  OrderedJson out = OrderedJson::array();
  for (const auto& f : in.failures) out.push_back({{"run", in.runs.at(f.run)}, {"id", f.id}, {"reason", f.reason}});
  return out;
}

OrderedJson run_details_json(const SummaryInput& in) {
  OrderedJson out = OrderedJson::array();
  for (size_t r = 0; r < in.run_details.size(); ++r) {
    const SummaryRun& run = in.run_details[r];
    out.push_back({{"path", in.runs.at(r)},
                   {"settings", OrderedJson::parse(run.settings.dump())},
                   {"model", OrderedJson::parse(run.model.dump())},
                   {"items", run.items},
                   {"ok", run.ok},
                   {"failed", run.failed}});
  }
  return out;
}

// Agreement of the skipped runs with the full ones across items: counts, distributions, per item.
OrderedJson skip_json(const std::vector<SummarySkip>& skips) {
  if (skips.empty()) return nullptr;
  std::vector<double> prefix, position, overlap;
  size_t identical = 0;
  OrderedJson items = OrderedJson::array();
  for (const auto& s : skips) {
    identical += s.identical;
    prefix.push_back(s.matching_prefix);
    position.push_back(s.position_agreement);
    overlap.push_back(s.token_overlap);
    items.push_back({{"run", s.run}, {"id", s.id}, {"mode", s.mode}, {"layers", s.layers}, {"identical", s.identical},
                     {"matching_prefix", s.matching_prefix}, {"position_agreement", s.position_agreement},
                     {"token_overlap", s.token_overlap}});
  }
  return {{"items", skips.size()}, {"identical", identical},
          {"matching_prefix", value_summary_json(summarize_values(prefix))},
          {"position_agreement", value_summary_json(summarize_values(position))},
          {"token_overlap", value_summary_json(summarize_values(overlap))}, {"per_item", items}};
}

OrderedJson layers_json(const TokenAggregate& a) {
  OrderedJson layers = OrderedJson::array();
  for (const auto& layer : a.layers) {
    OrderedJson j;
    j["layer"] = layer.layer;
    j["tap"] = layer.layer == 0 ? "blocks.0.hook_resid_pre" : "blocks." + std::to_string(layer.layer - 1) + ".hook_resid_post";
    j["stage"] = layer.stage;
    for (int k = 0; k < kNumTokenMetrics; ++k) j[kTokenMetrics[k]] = value_summary_json(layer.metrics[k]);
    layers.push_back(j);
  }
  return layers;
}

OrderedJson pooled_stages_json(const StageResult& s) {
  OrderedJson j = stages_json(s);
  j["tokens"] = s.per_token.size();
  return j;
}

OrderedJson embedding_json(const FeatureSummary& f) {
  const bool tsne = f.options.method == EmbeddingMethod::tsne;
  OrderedJson j;
  j["method"] = embedding_method_name(f.options.method);
  j["perplexity"] = tsne ? OrderedJson(f.embedding.perplexity) : OrderedJson(nullptr);
  j["seed"] = f.options.seed;
  j["iterations"] = tsne ? OrderedJson(f.options.iterations) : OrderedJson(nullptr);
  j["kl_divergence"] = tsne ? number(f.embedding.kl_divergence) : OrderedJson(nullptr);
  j["variance"] = tsne ? OrderedJson(nullptr) : OrderedJson({f.embedding.variance[0], f.embedding.variance[1]});
  j["input"] = "hidden states scaled to unit length";
  j["items"] = f.items_embedded;
  OrderedJson points = OrderedJson::array();
  for (size_t i = 0; i < f.points.size() && i < f.embedding.points.size(); ++i)
    points.push_back({{"item", f.points[i].item}, {"run", f.points[i].run}, {"layer", f.points[i].layer},
                      {"x", number(f.embedding.points[i][0])}, {"y", number(f.embedding.points[i][1])}});
  j["points"] = points;
  return j;
}

OrderedJson features_json(const FeatureSummary& f) {
  OrderedJson layers = OrderedJson::array();
  for (size_t l = 0; l < f.mean_pairwise_cosine.size(); ++l)
    layers.push_back({{"layer", l}, {"mean_pairwise_cosine", number(f.mean_pairwise_cosine[l])}});
  return {{"step", f.step}, {"items", f.items}, {"layers", layers}, {"embedding", embedding_json(f)}};
}

}  // namespace

OrderedJson build_summary(const SummaryInput& in) {
  OrderedJson j;
  j["schema"] = kSummarySchema;
  j["tool"] = tool_json();
  j["runs"] = in.runs;
  j["run_details"] = run_details_json(in);
  j["items"] = items_json(in);
  j["failed_items"] = failed_items_json(in);
  j["model"] = OrderedJson::parse(in.model.dump());
  j["settings"] = OrderedJson::parse(in.settings.dump());
  j["layers"] = layers_json(in.aggregate);
  j["stages"] = pooled_stages_json(in.aggregate.stages);
  j["histograms"] = {{"critical_layer", in.aggregate.critical_histogram},
                     {"mutation_layer", in.aggregate.mutation_histogram},
                     {"critical_undetermined", in.aggregate.critical_undetermined},
                     {"mutation_absent", in.aggregate.mutation_absent}};
  j["features"] = in.features ? features_json(*in.features) : OrderedJson(nullptr);
  j["skip"] = skip_json(in.skips);
  return j;
}

}  // namespace lvlm
