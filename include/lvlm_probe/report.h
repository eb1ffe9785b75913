// The JSON report (schema "lvlm-probe/report/2", documented in docs/report-schema.md): built
// from a ProbeResult, written atomically, read back with validation by `check`, `aggregate`,
// `render` and `analyze` (which also read version 1), and compared for regressions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lvlm_probe/json.h"
#include "lvlm_probe/probe.h"

namespace lvlm {

inline constexpr const char* kReportSchema = "lvlm-probe/report/2";
// Still read: the stage outcomes are plain layers (never null) and carry one `confidence`.
inline constexpr const char* kReportSchemaV1 = "lvlm-probe/report/1";

// The `tool` object of every file lvlm-probe writes: name, version and the commit it was built from.
OrderedJson tool_json();

OrderedJson build_report(const ProbeResult& result);
// Atomic (temp file + rename); "-" writes to stdout.
void write_report(const std::string& path, const OrderedJson& report);

// Reads a report and checks the parts other commands rely on: schema version, model.num_layers,
// output.token_ids, stages, and per-token arrays of length num_layers + 1. InputError naming the
// file and the offending key otherwise.
Json read_report(const std::string& path);
void validate_report(const Json& report, const std::string& origin);

// The per-image t-SNE of a report's page: every generated token's hidden state at every layer from
// its --dump-features file (tensors "token.<step>", [L+1, hidden], F32 or F16), embedded in 2-D
// as `style` says (analysis.h). The first steps up to `max_points` points are embedded. Returns
// {method, style, scaling, perplexity, iterations, kl_divergence, steps, steps_embedded, points:
// [{step, layer, x, y}], groups: [{name, first_layer, last_layer}] (paper style)}. InputError
// naming `features_path` when it does not fit the report.
Json token_embedding(const std::string& features_path, const Json& report, TokenEmbeddingStyle style,
                     size_t max_points, uint64_t seed = 0);

// InputError naming the features file when its metadata (written by --dump-features) names another
// image or other tokens than the report's run. Files without that metadata pass.
class SafetensorsFile;
void check_features_of_run(const SafetensorsFile& features, const Json& report);

// The stage options a report was analysed with (settings.stages and settings.lens), as
// `analyze` and `aggregate` re-apply them. A fixed method's critical layer and window come from
// the report's `stages`, where they were resolved.
StageOptions stage_options_of_report(const Json& report);

// `analyze`: the report with its stages and everything derived from them (per-token outcomes,
// layers[].stage and the per-layer summaries, settings.stages) recomputed from the stored
// per-token divergences with `options`, through the same functions as `run`; the result is a
// report of the current schema. `origin` names the file in messages (InputError).
OrderedJson reanalyze_report(const OrderedJson& report, const StageOptions& options, const std::string& origin);

// `check`: did the stage boundaries or the output move between a baseline and a candidate?
struct CheckFinding {
  std::string what;    // "critical_layer", "mutation_layer", "output tokens", "num_layers"
  std::string detail;  // "moved from 18 to 21 (by 3 > tolerance 1)"
};
struct CheckOutcome {
  bool regression = false;
  std::vector<CheckFinding> findings;  // regressions; empty when all is within tolerance
  std::vector<std::string> notes;      // what was compared, for the log
};

// What must agree for two reports to be compared, by the name `--allow-different` takes.
inline constexpr const char* kComparedFields[] = {"lens", "divergence", "prompt_ids", "image_sha256", "model"};

struct CheckOptions {
  int tolerance = 1;             // layers a boundary may move
  // A boundary is compared only where both sides are determined with at least this confidence;
  // a determined side at least this confident against an undetermined / absent one is a change.
  double min_confidence = 0.7;
  std::vector<std::string> allow_different;  // of kComparedFields
};

// UsageError (exit 2) listing every difference when the reports are not comparable: lens mode,
// divergence, prompt ids, image hash or model identity (family, architecture, layers, hidden and
// vocabulary size; not the weights, which a model change is expected to change) differ and are
// not allowed to. Version-1 reports count their boundaries as determined with confidence 1.
CheckOutcome check_reports(const Json& baseline, const Json& candidate, const CheckOptions& options);

// ---------------------------------------------------------------------------------------------
// The batch summary (schema "lvlm-probe/summary/2", documented in docs/batch.md), written by
// `aggregate` from any number of run directories.

inline constexpr const char* kSummarySchema = "lvlm-probe/summary/2";
// Still read: stage outcomes never null.
inline constexpr const char* kSummarySchemaV1 = "lvlm-probe/summary/1";

struct SummaryFailure {
  int run = 0;  // index into SummaryInput::runs
  std::string id, reason;
};

// One aggregated run directory: the settings its items were probed with.
struct SummaryRun {
  Json settings;  // run.json's
  Json model;     // of its first finished item's report; null without one
  size_t items = 0, ok = 0, failed = 0;
};

// Hidden states of one step compared across images.
struct FeatureSummary {
  int step = 0;
  size_t items = 0;                          // images with features at this step
  std::vector<double> mean_pairwise_cosine;  // per layer 0..L; NaN (null) with fewer than 2 images
  EmbeddingOptions options;                  // as asked; the used perplexity is in `embedding`
  Embedding embedding;
  struct Point {
    std::string item;
    int run = 0, layer = 0;
  };
  std::vector<Point> points;                 // what each embedding point is
  size_t items_embedded = 0;                 // images whose layers were embedded (a subset above the cap)
};

// One item's skipped run (--skip-layers / --skip stabilization) as its report's `skip` holds it.
struct SummarySkip {
  int run = 0;
  std::string id, mode;
  std::vector<int> layers;
  bool identical = false;
  int matching_prefix = 0;
  double position_agreement = 0, token_overlap = 0;
};

struct SummaryInput {
  std::vector<std::string> runs;  // run directories as given
  std::vector<SummaryRun> run_details;  // one per entry of runs
  size_t total = 0, ok = 0, failed = 0, tokens = 0;
  std::vector<SummaryFailure> failures;
  std::vector<SummarySkip> skips;  // items whose report has a skipped run
  Json model, settings;           // the first report's; the compared settings agree in all
  TokenAggregate aggregate;
  std::optional<FeatureSummary> features;
};

OrderedJson build_summary(const SummaryInput& input);

}  // namespace lvlm
