// `aggregate`: run directories -> SummaryInput -> the summary JSON. Reads each run's index (the
// last record per id), every finished item's report (tokens -> TokenRecord) and, for the chosen
// step, its features file (hidden states [L+1, hidden]) for the cross-image comparison.
#include <cmath>
#include <cstring>
#include <limits>

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

// The settings that must agree for tokens of different items to be pooled.
Json pooled_settings(const Json& report) {
  const Json& s = report["settings"];
  Json out = Json::object();
  for (const char* key : {"lens", "divergence", "stages"})
    if (s.contains(key)) out[key] = s[key];
  out["num_layers"] = report["model"].value("num_layers", 0);
  out["hidden_size"] = report["model"].value("hidden_size", 0);
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
  void add(const std::string& path, const std::string& id, int run, int num_layers, int hidden) {
    auto file = SafetensorsFile::open(path);
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

}  // namespace

OrderedJson aggregate_runs(const AggregateOptions& o) {
  if (o.run_dirs.empty()) throw UsageError("aggregate: give at least one run directory");
  if (o.feature_step < -1) throw UsageError("--feature-step: steps start at 0 (-1 = no features)");
  SummaryInput in;
  in.runs = o.run_dirs;
  std::vector<TokenRecord> tokens;
  Json reference;  // pooled_settings of the first report
  std::string reference_path;
  StageOptions stage_options;
  int num_layers = 0, hidden = 0;

  std::optional<FeatureCollector> features;
  if (o.feature_step >= 0) {
    features.emplace();
    features->step = o.feature_step;
  }
  size_t max_points = o.max_points;
  if (max_points == 0) max_points = o.embedding.method == EmbeddingMethod::tsne ? kDefaultPointsTsne : kDefaultPointsPca;

  for (size_t r = 0; r < o.run_dirs.size(); ++r) {
    const std::string& dir = o.run_dirs[r];
    if (!is_directory(dir)) throw InputError(dir, "not a directory (expected a batch run directory)");
    if (!file_exists(join_path(dir, "run.json")))
      throw InputError(dir, "no run.json: not a run directory written by lvlm-probe batch");
    batch::read_run_file(dir);
    const std::map<std::string, Json> index = read_run_index(dir);
    if (index.empty()) spdlog::warn("{}: no finished items yet", dir);
    for (const auto& [id, record] : index) {
      ++in.total;
      if (record["status"] == "failed") {
        ++in.failed;
        in.failures.push_back({static_cast<int>(r), id, record.value("error", "")});
        continue;
      }
      const std::string report_path = join_path(dir, record.value("report", ""));
      const Json report = read_report(report_path);
      const Json settings = pooled_settings(report);
      if (reference.is_null()) {
        reference = settings;
        reference_path = report_path;
        in.model = report["model"];
        in.settings = report["settings"];
        stage_options = stage_options_of_report(report);
        num_layers = settings["num_layers"].get<int>();
        hidden = settings["hidden_size"].get<int>();
        if (features) {
          const size_t per_item = static_cast<size_t>(num_layers) + 1;
          features->max_items = std::max<size_t>(max_points / per_item, 2);
        }
      } else if (settings != reference) {
        const auto diff = settings_differences(reference, settings);
        std::string list;
        for (const auto& d : diff) list += (list.empty() ? "" : "; ") + d;
        throw InputError(report_path, "cannot be pooled with " + reference_path + ": " + list);
      }
      ++in.ok;
      if (const Json& skip = report.contains("skip") ? report["skip"] : Json(); skip.is_object())
        in.skips.push_back(skip_record(skip, static_cast<int>(r), id));
      for (const Json& token : report["tokens"]) {
        TokenRecord t;
        for (int k = 0; k < kNumTokenMetrics; ++k) t.metrics[k] = layer_values(token, kTokenMetrics[k], report_path);
        t.critical_layer = token_layer(token, "critical_layer");
        t.mutation_layer = token_layer(token, "mutation_layer");
        tokens.push_back(std::move(t));
      }
      const Json& feature_file = record.contains("features") ? record["features"] : Json();
      if (features && feature_file.is_string())
        features->add(join_path(dir, feature_file.get<std::string>()), id, static_cast<int>(r), num_layers, hidden);
    }
  }
  if (in.ok == 0)
    throw InputError(o.run_dirs.front(), "no finished item to aggregate (" + std::to_string(in.failed) + " failed)");
  in.tokens = tokens.size();
  in.aggregate = aggregate_tokens(tokens, num_layers, stage_options);

  if (features && features->items == 0) {
    spdlog::warn("aggregate: no item has features at step {} (batch --feature-steps); the summary has none",
                 o.feature_step);
  } else if (features) {
    FeatureSummary f;
    f.step = o.feature_step;
    f.items = features->items;
    for (const auto& c : features->cosine) f.mean_pairwise_cosine.push_back(c.mean());
    f.options = o.embedding;
    f.points = features->points;
    f.items_embedded = features->items_embedded;
    if (f.items < features->items_embedded || f.items > features->items_embedded)
      spdlog::info("aggregate: embedding the first {} of {} items ({} points at most)", f.items_embedded, f.items,
                   max_points);
    f.embedding = embed_2d(features->rows, features->dim, o.embedding);
    in.features = std::move(f);
  }
  return build_summary(in);
}

}  // namespace lvlm
