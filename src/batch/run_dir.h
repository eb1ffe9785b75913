// Inside the batch module: the run directory's files (run.json, index files, stale temp files).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "lvlm_probe/batch.h"

namespace lvlm::batch {

inline constexpr const char* kRunSchema = "lvlm-probe/run/1";

// Appends records to one index file. Each line goes out in a single write() followed by fsync,
// so a kill can tear at most the last line; opening cuts such a torn tail off. An exclusive
// flock keeps a second process (the same shard started twice) from writing the same file.
class IndexWriter {
 public:
  explicit IndexWriter(std::string path);
  ~IndexWriter();
  IndexWriter(const IndexWriter&) = delete;
  IndexWriter& operator=(const IndexWriter&) = delete;
  void append(const OrderedJson& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// How the items are split among the writers of a run directory: {"shards": N, "items": M,
// "items_sha256": hash of the ids in order}, over the item list after --ids and before --limit
// (item i is in shard i mod N, so a longer or shorter prefix keeps every item's shard).
OrderedJson shard_layout(const std::vector<BatchItem>& listed, const Shard& shard);

// Creates run.json with `settings` and `layout` when it is missing (link(), so concurrent shards
// cannot both create it), else compares. A layout of another shard count (or, sharded, another
// item list) is a UsageError naming run.json and both layouts: writers could probe an item
// twice; `force` does not change that. Other settings are a UsageError naming every difference
// unless `force`, which records the new settings and keeps the old ones under "previous".
void claim_run_settings(const std::string& run_dir, const OrderedJson& settings, const OrderedJson& layout, bool force);

// Reads `<run_dir>/run.json` and checks that it is a run settings file of this schema version
// (InputError naming the file otherwise): the index lines' format depends on it.
Json read_run_file(const std::string& run_dir);

// Each run directory once (the same directory under two names would count its items twice):
// InputError for a path that is no directory, UsageError "<command>: 'a' and 'b' are the same run
// directory ..." for a repeat.
void refuse_repeated_runs(const std::vector<std::string>& dirs, const std::string& command);

// The current time in UTC, ISO 8601 to the second ("2026-11-25T11:31:35Z"), for records.
std::string utc_now();

// Removes temp files ("<name>.json.tmp.*", "<name>.safetensors.tmp.*") a killed run left for
// the given item names. Only this shard's items: other shards may be writing theirs right now.
void remove_stale_temps(const std::string& dir, const std::set<std::string>& names);

}  // namespace lvlm::batch
