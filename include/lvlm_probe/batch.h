// Batch probing over a data set (docs/batch.md): data-set readers, shards, the
// run directory (one report per item, an index of finished items, the run's settings) with a
// resumable runner, and reading run directories back into a summary for `aggregate`.
//
// Torch-free: the runner gets the probe as a function, so the CLI passes a ProbeSession (the
// model is loaded once per process) and tests pass a fake.
//
// Run directory (several shards may write into one concurrently; each owns its index file):
//   run.json                         settings every item was probed with (compared on resume)
//   reports/<name>.json              one report per item (atomic: temp file + rename)
//   features/<name>.safetensors      hidden states [L+1, hidden] at the kept steps ("token.<step>")
//   index.jsonl | index.<I>-of-<N>.jsonl   one JSON line per finished item, appended after its
//                                    report is in place; the last line for an id wins
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/probe.h"

namespace lvlm {

// ---------------------------------------------------------------------------------------------
// Data sets.

enum class DatasetKind { amber, coco, jsonl, folder };
DatasetKind parse_dataset_kind(const std::string& name);  // UsageError naming --dataset
const char* dataset_kind_name(DatasetKind kind);

struct BatchItem {
  std::string id;      // unique in the data set; AMBER and COCO's numeric ids as text
  std::string image;   // path of the image file
  std::string prompt;  // the question
};

struct DatasetOptions {
  DatasetKind kind = DatasetKind::amber;
  std::string data;    // AMBER query file, COCO annotation file, JSONL file, or a folder of images
  std::string images;  // where relative image names are looked up; "" = the folder holding --data
  std::string prompt;  // coco, folder: required; jsonl: for lines without "prompt"; amber: refused
  std::string ids;     // "" = all; else ids and integer ranges, e.g. "1,7,20-40"
  size_t limit = 0;    // 0 = all; else the first N items (after --ids)
};

// Items in a deterministic order: file order (AMBER's array, COCO's images[], JSONL lines), or
// the byte order of file names (folder). InputError naming the file and the key or line for a
// malformed file, and for duplicate ids; UsageError for flags that do not fit the kind.
std::vector<BatchItem> load_dataset(const DatasetOptions& options);

// ---------------------------------------------------------------------------------------------
// Shards: item i belongs to shard i mod N, so N shards partition the items exactly and differ
// in size by at most one.

struct Shard {
  int index = 0, count = 1;  // 0 <= index < count
  std::string text() const;  // "I/N"
};

using Environment = std::function<const char*(const char*)>;
// "I/N" or "auto": SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or with
// SLURM_ARRAY_TASK_MIN/MAX (and _STEP). UsageError naming --shard otherwise.
Shard parse_shard(const std::string& text, const Environment& env = [](const char* name) { return std::getenv(name); });
std::vector<BatchItem> shard_items(const std::vector<BatchItem>& items, const Shard& shard);

// ---------------------------------------------------------------------------------------------
// The run directory.

// File name (without extension) of an item's report and features: the id when it is made of
// [A-Za-z0-9._-] (not starting with '.', at most 100 bytes), else a cleaned prefix plus 12 hex
// digits of the id's SHA-256, so different ids never share a file.
std::string item_file_name(const std::string& id);

// "index.jsonl" for the unsharded run, "index.<I>-of-<N>.jsonl" for shard I of N.
std::string index_file_name(const Shard& shard);

// The records of one index file in order. A last line without its newline (the writer was
// killed in the middle of it) is left out and `*valid_bytes` tells where the intact part ends;
// any other malformed line is an InputError "<file>:<line>: ...".
std::vector<Json> read_index_file(const std::string& path, uint64_t* valid_bytes = nullptr);

// Every index file of a run directory, in name order; per id the last record wins. A record
// whose report or features path leads outside the run directory (also through a symbolic link)
// is an InputError "<file>:<line>: ...".
std::map<std::string, Json> read_run_index(const std::string& run_dir);

// Whether `relative` (a path inside a run directory) is one of the run's own files: run.json,
// an index file, anything under reports/ or features/. Outputs of `aggregate` may not be one.
bool is_run_dir_file(const std::string& relative);

// ---------------------------------------------------------------------------------------------
// The runner.

struct BatchOptions {
  DatasetOptions dataset;
  std::string out_dir;
  Shard shard;
  SessionOptions session;             // model directory and device, recorded in run.json
  ProbeRequest request;               // every item's settings; image and prompt are set per item
  std::vector<int> feature_steps = {0};  // steps whose hidden states are kept; empty = none
  std::string feature_dtype = "f16";  // "f16" (f32 for a tensor f16 cannot hold) or "f32"
  bool force = false;                 // resume although run.json records other settings
  bool retry_failed = false;          // probe items recorded as failed again
  double log_interval = 15;           // seconds between progress lines when stderr is no terminal
};

struct BatchOutcome {
  size_t items = 0;         // in this shard
  size_t already_done = 0;  // finished by an earlier run, skipped
  size_t ok = 0;            // probed by this run
  size_t failed = 0;        // failed in this run
  size_t failed_total = 0;  // items of this shard whose last record says failed
  size_t remaining = 0;     // not reached (interrupted)
  int stopped_by = 0;       // the signal that stopped the run early; 0 = it ran to the end
  std::string index_file;
};

using ProbeFunction = std::function<ProbeResult(const ProbeRequest&)>;

// Probes every unfinished item of the shard. `stop` is polled between items: when it holds a
// signal number the run stops cleanly after the item in flight. Any error of an item (its prompt
// too long or without <image>, a bad image, ...) is recorded as failed with its reason and the
// run goes on; only runtime failures three items in a row end the run. The caller checks the
// settings against the model first (ProbeSession::check), so what fails is the item's own.
// UsageError (naming what differs) when run.json records other settings and `force` is not set,
// or another shard layout (docs/batch.md).
BatchOutcome run_batch(const BatchOptions& options, const ProbeFunction& probe,
                       const volatile std::sig_atomic_t* stop = nullptr);

// The settings run.json records and resumes compare (everything that changes a number or an
// item's meaning; not --limit, --ids, --shard or --threads).
OrderedJson run_settings(const BatchOptions& options);
// "lens: \"norm\" in run.json, \"raw\" now" per differing key (dotted paths into objects), with
// the two labels given; empty when equal.
std::vector<std::string> settings_differences(const Json& recorded, const Json& current,
                                              const std::string& recorded_label = "in run.json",
                                              const std::string& current_label = "now");

// ---------------------------------------------------------------------------------------------
// Aggregation of run directories (`lvlm-probe aggregate`).

struct AggregateOptions {
  std::vector<std::string> run_dirs;
  int feature_step = 0;         // whose hidden states are compared across images; -1 = none
  EmbeddingOptions embedding;
  size_t max_points = 0;        // embedded points (images x layers); 0 = 3000 for t-SNE, 50000 for PCA
};

// The summary (schema lvlm-probe/summary/1, docs/batch.md). InputError for unreadable runs, an
// index line naming a file outside its run directory, and runs or reports whose settings differ
// in what changes a pooled number (naming both and every difference); UsageError for a run
// directory given twice (also through a symbolic link).
OrderedJson aggregate_runs(const AggregateOptions& options);

}  // namespace lvlm
