// The batch runner: probes every unfinished item of a shard into the run directory. Ordering is
// what makes a kill at any moment harmless: features (if any) and the report are each written to a
// temp file and renamed into place, and only then is the item's line appended to the index (one
// write() + fsync). A kill before the index line leaves the item unfinished: the next run probes it
// again and overwrites its files. A kill inside the append leaves a torn last line, which the next
// IndexWriter cuts off.
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "lvlm_probe/batch.h"
#include "lvlm_probe/report.h"
#include "lvlm_probe/stopwatch.h"
#include "progress.h"
#include "run_dir.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxErrorsInARow = 3;

// Paths are compared on resume, so `data/q.json` and `/abs/data/q.json` must agree.
std::string absolute(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !is_directory(dir)) throw RuntimeFailure(dir + ": cannot create the directory: " + ec.message());
}

// The item's earlier outcome decides whether it is probed again.
bool finished(const Json* record, const std::string& run_dir, bool retry_failed) {
  if (!record) return false;
  if ((*record)["status"] == "failed") return !retry_failed;
  // An ok record whose report went missing (deleted by hand) is probed again.
  const std::string report = record->value("report", "");
  return !report.empty() && file_exists(join_path(run_dir, report));
}

// The exit-code class of an item's failure: "usage" (its prompt does not fit the model, e.g.
// too long or without <image> under --template raw), "input" (its image, non-finite numbers)
// or "runtime". Problems of the whole run never get here: the CLI checks them before any item.
const char* failure_kind(const std::exception& e) {
  const auto* error = dynamic_cast<const Error*>(&e);
  if (error && error->code() == ExitCode::usage) return "usage";
  if (error && error->code() == ExitCode::bad_input) return "input";
  return "runtime";
}

// The first line (libtorch appends a backtrace), at most kMaxReason bytes.
std::string one_line(const std::string& what) {
  constexpr size_t kMaxReason = 1000;
  std::string line = what.substr(0, what.find('\n'));
  if (line.size() > kMaxReason) line = line.substr(0, kMaxReason) + "...";
  return line;
}

// The data set's items after --ids; --limit keeps a prefix, which keeps every item's shard.
std::vector<BatchItem> listed_items(const DatasetOptions& options) {
  DatasetOptions unlimited = options;
  unlimited.limit = 0;
  return load_dataset(unlimited);
}

}  // namespace

OrderedJson run_settings(const BatchOptions& o) {
  const ProbeRequest& r = o.request;
  OrderedJson stages;
  stages["method"] = stage_method_name(r.stages.method);
  stages["critical_layer"] = r.stages.critical_layer;
  stages["window"] = {r.stages.window_first, r.stages.window_last};
  stages["config"] = r.stages.config ? OrderedJson(absolute(r.stages.config->path)) : OrderedJson(nullptr);
  OrderedJson s;
  s["dataset"] = {{"kind", dataset_kind_name(o.dataset.kind)},
                  {"data", absolute(o.dataset.data)},
                  {"images", absolute(o.dataset.images)},
                  {"prompt", o.dataset.prompt}};
  s["model"] = absolute(o.session.model_dir);
  s["device"] = o.session.device.device;
  s["dtype"] = o.session.device.dtype;
  s["reduced_math"] = o.session.device.reduced_math;
  s["template"] = r.template_name;
  s["pad_square"] = r.pad_square;
  s["max_new_tokens"] = r.max_new_tokens;
  s["stop_at_eos"] = r.stop_at_eos;
  s["lens"] = lens_mode_name(r.lens);
  s["divergence"] = divergence_name(r.divergence);
  s["top_k"] = r.top_k;
  s["stages"] = stages;
  s["skip_layers"] = r.skip_layers;
  s["skip_stabilization"] = r.skip_stabilization;
  s["positions"] = positions_name(r);
  if (r.attention) s["attention"] = true;  // absent when off: run directories made before it still resume
  s["feature_steps"] = o.feature_steps;
  s["feature_dtype"] = o.feature_steps.empty() ? OrderedJson(nullptr) : OrderedJson(o.feature_dtype);
  return s;
}

BatchOutcome run_batch(const BatchOptions& o, const ProbeFunction& probe, const volatile std::sig_atomic_t* stop) {
  if (o.out_dir.empty()) throw UsageError("batch: --out RUN_DIR is required");
  if (o.feature_dtype != "f16" && o.feature_dtype != "f32")
    throw UsageError("--feature-dtype: '" + o.feature_dtype + "' is not f16 or f32");
  for (int step : o.feature_steps)
    if (step < 0) throw UsageError("--feature-steps: steps start at 0, found " + std::to_string(step));
  if (o.shard.count < 1 || o.shard.index < 0 || o.shard.index >= o.shard.count)
    throw UsageError("--shard: " + o.shard.text() + " is not a shard");

  const std::vector<BatchItem> listed = listed_items(o.dataset);
  const size_t limit = o.dataset.limit > 0 ? std::min(o.dataset.limit, listed.size()) : listed.size();
  const std::vector<BatchItem> all(listed.begin(), listed.begin() + static_cast<std::ptrdiff_t>(limit));
  const std::vector<BatchItem> items = shard_items(all, o.shard);

  const std::string reports_dir = join_path(o.out_dir, "reports");
  const std::string features_dir = join_path(o.out_dir, "features");
  make_dir(reports_dir);
  if (!o.feature_steps.empty()) make_dir(features_dir);
  batch::claim_run_settings(o.out_dir, run_settings(o), batch::shard_layout(listed, o.shard), o.force);

  BatchOutcome out;
  out.items = items.size();
  out.index_file = join_path(o.out_dir, index_file_name(o.shard));
  batch::IndexWriter index(out.index_file);  // locks this shard's index and repairs a torn tail

  // Every index file counts: an item finished by an unsharded run or under another shard count
  // is not probed again.
  const std::map<std::string, Json> earlier = read_run_index(o.out_dir);
  std::vector<const BatchItem*> todo;
  std::set<std::string> names;
  for (const auto& item : items) {
    auto it = earlier.find(item.id);
    const Json* record = it == earlier.end() ? nullptr : &it->second;
    if (finished(record, o.out_dir, o.retry_failed)) {
      ++out.already_done;
      if ((*record)["status"] == "failed") ++out.failed_total;
      continue;
    }
    todo.push_back(&item);
    names.insert(item_file_name(item.id));
  }
  batch::remove_stale_temps(reports_dir, names);
  if (!o.feature_steps.empty()) batch::remove_stale_temps(features_dir, names);

  spdlog::info("shard {}: {} of {} items; {} finished earlier, {} to probe; index {}", o.shard.text(), items.size(),
               all.size(), out.already_done, todo.size(), out.index_file);
  batch::Progress progress(items.size(), out.already_done, o.log_interval);
  int errors_in_a_row = 0;
  for (size_t k = 0; k < todo.size(); ++k) {
    if (stop && *stop) {
      out.stopped_by = static_cast<int>(*stop);
      out.remaining = todo.size() - k;
      break;
    }
    const BatchItem& item = *todo[k];
    const std::string name = item_file_name(item.id);
    const std::string report_rel = "reports/" + name + ".json";
    const std::string features_rel = "features/" + name + ".safetensors";
    ProbeRequest request = o.request;
    request.image = item.image;
    request.prompt = item.prompt;
    request.input_ids.clear();
    if (!o.feature_steps.empty()) {
      request.dump_features = join_path(o.out_dir, features_rel);
      request.dump_steps = o.feature_steps;
      request.dump_f16 = o.feature_dtype == "f16";
    }
    OrderedJson record;
    record["id"] = item.id;
    const Stopwatch clock;
    try {
      const ProbeResult result = probe(request);
      write_report(join_path(o.out_dir, report_rel), build_report(result));
      const double seconds = clock.seconds();
      record["status"] = "ok";
      record["report"] = report_rel;
      const bool has_features = !o.feature_steps.empty() && file_exists(join_path(o.out_dir, features_rel));
      record["features"] = has_features ? OrderedJson(features_rel) : OrderedJson(nullptr);
      record["image"] = item.image;
      record["tokens"] = result.token_ids.size();
      record["critical_layer"] = result.stages.critical_layer() ? OrderedJson(*result.stages.critical_layer()) : OrderedJson(nullptr);
      record["mutation_layer"] = result.stages.mutation_layer() ? OrderedJson(*result.stages.mutation_layer()) : OrderedJson(nullptr);
      record["seconds"] = seconds;
      errors_in_a_row = 0;
    } catch (const std::exception& e) {
      // Whatever the item's own image or prompt caused is its failure; the run goes on.
      const std::string reason = one_line(e.what());
      const char* kind = failure_kind(e);
      record["status"] = "failed";
      record["image"] = item.image;
      record["reason"] = reason;
      record["error_kind"] = kind;
      progress.clear();
      spdlog::warn("item {}: {}", item.id, reason);
      // Runtime failures item after item mean the model cannot run at all.
      errors_in_a_row = std::string(kind) == "runtime" ? errors_in_a_row + 1 : 0;
      if (errors_in_a_row >= kMaxErrorsInARow) {
        record["shard"] = o.shard.text();
        record["finished"] = batch::utc_now();
        index.append(record);
        throw RuntimeFailure("batch: " + std::to_string(kMaxErrorsInARow) + " items in a row failed (last: item " +
                             item.id + ": " + reason + "); stopping");
      }
    }
    record["shard"] = o.shard.text();
    record["finished"] = batch::utc_now();
    index.append(record);  // the report is in place: only now does the item count as finished
    const bool ok = record["status"] == "ok";
    if (ok) ++out.ok;
    else ++out.failed, ++out.failed_total;
    progress.item_finished(ok);
  }
  progress.finish();
  return out;
}

}  // namespace lvlm
