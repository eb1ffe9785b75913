// The JSON report (schema "lvlm-probe/report/1", documented in docs/report-schema.md): built
// from a ProbeResult, written atomically, read back with validation by `check`, `aggregate` and
// `render`, and compared for regressions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lvlm_probe/json.h"
#include "lvlm_probe/probe.h"

namespace lvlm {

inline constexpr const char* kReportSchema = "lvlm-probe/report/1";

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
CheckOutcome check_reports(const Json& baseline, const Json& candidate, int tolerance);

// ---------------------------------------------------------------------------------------------
// The batch summary (schema "lvlm-probe/summary/1", documented in docs/batch.md), written by
// `aggregate` from any number of run directories.

inline constexpr const char* kSummarySchema = "lvlm-probe/summary/1";

struct SummaryFailure {
  int run = 0;  // index into SummaryInput::runs
  std::string id, error;
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
  size_t total = 0, ok = 0, failed = 0, tokens = 0;
  std::vector<SummaryFailure> failures;
  std::vector<SummarySkip> skips;  // items whose report has a skipped run
  Json model, settings;           // the first report's; the compared settings agree in all
  TokenAggregate aggregate;
  std::optional<FeatureSummary> features;
};

OrderedJson build_summary(const SummaryInput& input);

}  // namespace lvlm
