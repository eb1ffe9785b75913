// `aggregate`: run directories -> SummaryInput -> the summary JSON. Reads each run's index (the
// last record per id), every finished item's report (tokens -> TokenRecord) and, for the chosen
// step, its features file (hidden states [L+1, hidden]) for the cross-image comparison.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include <spdlog/spdlog.h>

#include "lvlm_probe/batch.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/report.h"
#include "run_dir.h"

namespace lvlm {
namespace {

constexpr size_t kDefaultPointsTsne = 3000, kDefaultPointsPca = 50000;

// A per-layer array of a token; null (layer 0 of d_prev, cos_prev) becomes NaN.
std::vector<double> layer_values(const Json& token, const char* key, const std::string& origin) {
  const Json* a = token.contains(key) ? &token[key] : nullptr;
  if (!a || !a->is_array()) throw InputError(origin, std::string("token without the array '") + key + "'");
  std::vector<double> v;
  v.reserve(a->size());
  for (const Json& x : *a) {
    if (x.is_number()) v.push_back(x.get<double>());
    else if (x.is_null()) v.push_back(std::numeric_limits<double>::quiet_NaN());
    else throw InputError(origin, std::string("'") + key + "' holds a non-number: " + x.dump());
  }
  return v;
}

const Json& child(const Json& parent, const char* key) {
  static const Json kNull;
  return parent.is_object() && parent.contains(key) ? parent[key] : kNull;
}

// What must agree for tokens of different items to be pooled: every setting of the report that
// changes a pooled number (all but top_k, which changes only the top-k lists), the template, and
// the model's shape, dtype and device.
Json pooled_settings(const Json& report) {
  Json out = child(report, "settings").is_object() ? report["settings"] : Json::object();
  out.erase("top_k");
  out["template"] = child(child(report, "input"), "template");
  const Json& model = report["model"];
  for (const char* key : {"vocab_size", "dtype", "device"}) out[key] = child(model, key);
  out["num_layers"] = model.value("num_layers", 0);
  out["hidden_size"] = model.value("hidden_size", 0);
  return out;
}

// What must agree between pooled runs: run.json's settings but the data set (what pooling
// runs is for) and those that change no pooled token number: top_k, prompt positions, which
// steps keep features and how they are stored (null in runs that keep none).
Json run_pooled_settings(const Json& run_file) {
  Json out = run_file["settings"];
  if (!out.is_object()) return Json::object();
  for (const char* key : {"dataset", "top_k", "positions", "feature_steps", "feature_dtype"}) out.erase(key);
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

// A token's own stage layer; nullopt when null (undetermined, absent) or not a number.
std::optional<int> token_layer(const Json& token, const char* key) {
  const auto it = token.find(key);
  if (it == token.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int>();
}

// A report's `skip` (docs/report-schema.md); missing or odd fields read as 0 / false.
SummarySkip skip_record(const Json& skip, int run, const std::string& id) {
  auto field = [](const Json& object, const char* key) {
    return object.is_object() && object.contains(key) ? object[key] : Json();
  };
  auto number_of = [&](const Json& object, const char* key) {
    const Json v = field(object, key);
    return v.is_number() ? v.get<double>() : 0.0;
  };
  SummarySkip s;
  s.run = run;
  s.id = id;
  s.mode = field(skip, "mode").is_string() ? field(skip, "mode").get<std::string>() : "";
  for (const Json& l : field(skip, "layers"))
    if (l.is_number_integer()) s.layers.push_back(l.get<int>());
  const Json a = field(skip, "agreement");
  s.identical = field(a, "identical") == true;
  s.matching_prefix = static_cast<int>(number_of(a, "matching_prefix"));
  s.position_agreement = number_of(a, "position_agreement");
  s.token_overlap = number_of(a, "token_overlap");
  return s;
}

struct FeatureCollector {
  int step;
  int layers = 0;  // L + 1
  size_t dim = 0, max_items = 0;
  std::vector<PairwiseCosine> cosine;
  std::vector<float> rows;  // unit vectors, item-major then layer
  std::vector<FeatureSummary::Point> points;
  size_t items = 0, items_embedded = 0;

  // Adds one item's features; false (with a warning) when its file lacks the step.
  void add(const std::string& path, const Json& report, const std::string& id, int run, int num_layers, int hidden) {
    auto file = SafetensorsFile::open(path);
    check_features_of_run(*file, report);
    const std::string name = "token." + std::to_string(step);
    const TensorView* t = nullptr;
    for (const auto& view : file->tensors())
      if (view.name == name) t = &view;
    if (!t) return;  // the item generated fewer tokens than step + 1
    if (t->shape.size() != 2 || t->shape[0] != num_layers + 1 || t->shape[1] != hidden)
      throw InputError(path, "tensor " + name + " has shape " + shape_string(t->shape) + ", expected [" +
                                 std::to_string(num_layers + 1) + ", " + std::to_string(hidden) + "]");
    if (cosine.empty()) {
      layers = num_layers + 1;
      dim = static_cast<size_t>(hidden);
      cosine.assign(static_cast<size_t>(layers), PairwiseCosine(dim));
    }
    const std::vector<float> values = tensor_as_f32(*t);
    ++items;
    for (int l = 0; l < layers; ++l) cosine[l].add(values.data() + static_cast<size_t>(l) * dim);
    if (items_embedded >= max_items) return;
    ++items_embedded;
    for (int l = 0; l < layers; ++l) {
      const float* v = values.data() + static_cast<size_t>(l) * dim;
      double norm2 = 0;
      for (size_t i = 0; i < dim; ++i) norm2 += double(v[i]) * double(v[i]);
      const double inv = norm2 > 0 && std::isfinite(norm2) ? 1.0 / std::sqrt(norm2) : 0.0;
      for (size_t i = 0; i < dim; ++i) rows.push_back(static_cast<float>(v[i] * inv));
      points.push_back({id, run, l});
    }
  }
};

// Runs, items and tokens pooled so far, checked to agree on everything that changes a number.
struct Pool {
  SummaryInput in;
  std::vector<TokenRecord> tokens;
  Json reference;  // pooled_settings of the first report
  std::string reference_path;
  Json run_reference;  // run_pooled_settings of the first run
  std::string run_reference_path;
  StageOptions stage_options;
  int num_layers = 0, hidden = 0;
  std::optional<FeatureCollector> features;
  size_t max_points = 0;

  void add_run(int r, const std::string& dir);
  void add_report(const Json& report, const std::string& report_path);
  void check_run_settings(const Json& run_file, const std::string& path);
};

void Pool::check_run_settings(const Json& run_file, const std::string& path) {
  const Json settings = run_pooled_settings(run_file);
  if (run_reference_path.empty()) {
    run_reference = settings;
    run_reference_path = path;
    return;
  }
  const auto diff = settings_differences(run_reference, settings, "in " + run_reference_path, "here");
  if (!diff.empty())
    throw InputError(path, "its items cannot be pooled with those of " + run_reference_path +
                               " (settings that change numbers differ): " + joined(diff));
}

void Pool::add_report(const Json& report, const std::string& report_path) {
  const Json settings = pooled_settings(report);
  if (reference.is_null()) {
    reference = settings;
    reference_path = report_path;
    in.model = report["model"];
    in.settings = report["settings"];
    stage_options = stage_options_of_report(report);
    num_layers = settings["num_layers"].get<int>();
    hidden = settings["hidden_size"].get<int>();
    if (features) features->max_items = std::max<size_t>(max_points / (static_cast<size_t>(num_layers) + 1), 2);
  } else if (settings != reference) {
    throw InputError(report_path, "cannot be pooled with " + reference_path + ": " +
                                      joined(settings_differences(reference, settings, "there", "here")));
  }
  for (const Json& token : report["tokens"]) {
    TokenRecord t;
    for (int k = 0; k < kNumTokenMetrics; ++k) t.metrics[k] = layer_values(token, kTokenMetrics[k], report_path);
    t.critical_layer = token_layer(token, "critical_layer");
    t.mutation_layer = token_layer(token, "mutation_layer");
    tokens.push_back(std::move(t));
  }
}

// Reads one run directory: its settings, its index (last record per id; report and features
// paths already checked to lie inside `dir`), its reports and features.
void Pool::add_run(int r, const std::string& dir) {
  if (!file_exists(join_path(dir, "run.json")))
    throw InputError(dir, "no run.json: not a run directory written by lvlm-probe batch");
  const Json run_file = batch::read_run_file(dir);
  check_run_settings(run_file, join_path(dir, "run.json"));
  SummaryRun run;
  run.settings = run_file["settings"];
  const std::map<std::string, Json> index = read_run_index(dir);
  if (index.empty()) spdlog::warn("{}: no finished items yet", dir);
  for (const auto& [id, record] : index) {
    ++in.total, ++run.items;
    if (record["status"] == "failed") {
      ++in.failed, ++run.failed;
      in.failures.push_back({r, id, record.value("reason", record.value("error", ""))});
      continue;
    }
    const std::string report_path = join_path(dir, record["report"].get<std::string>());
    const Json report = read_report(report_path);
    add_report(report, report_path);
    if (run.model.is_null()) run.model = report["model"];
    ++in.ok, ++run.ok;
    if (const Json& skip = report.contains("skip") ? report["skip"] : Json(); skip.is_object())
      in.skips.push_back(skip_record(skip, r, id));
    const Json& feature_file = record.contains("features") ? record["features"] : Json();
    if (features && feature_file.is_string())
      features->add(join_path(dir, feature_file.get<std::string>()), report, id, r, num_layers, hidden);
  }
  in.run_details.push_back(std::move(run));
}

void add_features(const AggregateOptions& o, const Pool& pool, SummaryInput& in) {
  const auto& collected = *pool.features;
  if (collected.items == 0) {
    spdlog::warn("aggregate: no item has features at step {} (batch --feature-steps); the summary has none",
                 o.feature_step);
    return;
  }
  FeatureSummary f;
  f.step = o.feature_step;
  f.items = collected.items;
  for (const auto& c : collected.cosine) f.mean_pairwise_cosine.push_back(c.mean());
  f.options = o.embedding;
  f.points = collected.points;
  f.items_embedded = collected.items_embedded;
  if (f.items != collected.items_embedded)
    spdlog::info("aggregate: embedding the first {} of {} items ({} points at most)", f.items_embedded, f.items,
                 pool.max_points);
  f.embedding = embed_2d(collected.rows, collected.dim, o.embedding);
  in.features = std::move(f);
}

}  // namespace

OrderedJson aggregate_runs(const AggregateOptions& o) {
  if (o.run_dirs.empty()) throw UsageError("aggregate: give at least one run directory");
  if (o.feature_step < -1) throw UsageError("--feature-step: steps start at 0 (-1 = no features)");
  batch::refuse_repeated_runs(o.run_dirs, "aggregate");
  Pool pool;
  pool.in.runs = o.run_dirs;
  if (o.feature_step >= 0) {
    pool.features.emplace();
    pool.features->step = o.feature_step;
  }
  pool.max_points = o.max_points;
  if (pool.max_points == 0)
    pool.max_points = o.embedding.method == EmbeddingMethod::tsne ? kDefaultPointsTsne : kDefaultPointsPca;
  for (size_t r = 0; r < o.run_dirs.size(); ++r) pool.add_run(static_cast<int>(r), o.run_dirs[r]);

  SummaryInput& in = pool.in;
  if (in.ok == 0)
    throw InputError(o.run_dirs.front(), "no finished item to aggregate (" + std::to_string(in.failed) + " failed)");
  in.tokens = pool.tokens.size();
  in.aggregate = aggregate_tokens(pool.tokens, pool.num_layers, pool.stage_options);
  if (pool.features) add_features(o, pool, in);
  return build_summary(in);
}

}  // namespace lvlm
