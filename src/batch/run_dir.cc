// The run directory's bookkeeping: item file names, index files (append, read, repair) and
// run.json, the settings a resumed run must share with the first one.
#include "run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "lvlm_probe/report.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxCleanName = 100;

bool file_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// Whether `path`, symbolic links resolved, lies inside `dir` (a path that cannot be resolved does not).
bool resolves_inside(const fs::path& dir, const fs::path& path) {
  std::error_code ec, ec2;
  const fs::path base = fs::weakly_canonical(dir, ec), target = fs::weakly_canonical(path, ec2);
  if (ec || ec2) return false;
  return std::mismatch(base.begin(), base.end(), target.begin(), target.end()).first == base.end();
}

// A file an ok record names must lie inside the run directory, also after resolving symbolic
// links: `aggregate` reads it, and an index line must not make it read /etc/passwd. The message
// shows the recorded path (escaped, cut short), never the bytes of the file it names.
void check_record_path(const Json& j, const char* key, const fs::path& run_dir, const std::string& origin) {
  if (!j.contains(key) || j[key].is_null()) {
    if (std::string(key) == "report") throw InputError(origin, "an ok record without key 'report'");
    return;
  }
  if (!j[key].is_string()) throw InputError(origin, std::string("key '") + key + "' must be a path (a string)");
  const fs::path rel = j[key].get<std::string>();
  std::string shown = Json(rel.string().substr(0, 200)).dump(-1, ' ', false, Json::error_handler_t::replace);
  const auto outside = [&](const std::string& how) {
    return InputError(origin, std::string("key '") + key + "' " + shown + " " + how +
                                  " outside the run directory; refused");
  };
  bool climbs = rel.empty() || rel.is_absolute();
  for (const auto& part : rel) climbs = climbs || part == "..";
  if (climbs) throw outside("points");
  if (!resolves_inside(run_dir, run_dir / rel)) throw outside("leads (through a symbolic link)");
}

void check_record(const Json& j, const std::string& origin, const fs::path& run_dir) {
  if (!j.is_object()) throw InputError(origin, "expected a JSON object per line");
  if (!j.contains("id") || !j["id"].is_string()) throw InputError(origin, "missing key 'id' (a string)");
  const std::string status = j.value("status", "");
  if (status != "ok" && status != "failed") throw InputError(origin, "key 'status' must be \"ok\" or \"failed\"");
  if (status != "ok") return;
  check_record_path(j, "report", run_dir, origin);
  check_record_path(j, "features", run_dir, origin);
}

bool is_index_name(const std::string& name) {
  return name == "index.jsonl" || (name.rfind("index.", 0) == 0 && name.size() > 12 &&
                                   name.compare(name.size() - 6, 6, ".jsonl") == 0);
}

struct Labels {
  const std::string &a, &b;  // how a message names where each value comes from
};

// Differences between two JSON values, recursing into objects with dotted key paths.
void differences(const Json& a, const Json& b, const std::string& key, const Labels& labels,
                 std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    std::vector<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) keys.push_back(it.key());
    for (const auto& k : keys)
      differences(a.contains(k) ? a[k] : Json(), b.contains(k) ? b[k] : Json(), key.empty() ? k : key + "." + k, labels,
                  out);
    return;
  }
  if (a != b) out.push_back(key + ": " + (a.is_null() ? "absent" : a.dump()) + " " + labels.a + ", " +
                            (b.is_null() ? "absent" : b.dump()) + " " + labels.b);
}

std::string layout_text(const Json& layout) {
  const std::string hash = layout.value("items_sha256", "");
  return "--shard I/" + std::to_string(layout.value("shards", 0)) + " over " +
         std::to_string(layout.value("items", 0)) + " items (ids sha256 " + hash.substr(0, 12) + ")";
}

// Writers of one run directory must agree on which shard each item is in. A run.json without a
// layout (written before layouts were recorded) is not checked.
void check_layout(const std::string& path, const Json& recorded, const Json& current) {
  if (!recorded.contains("layout")) return;
  const Json& was = recorded["layout"];
  const int shards = current["shards"].get<int>();
  if (was.value("shards", 0) == shards &&
      (shards == 1 || was.value("items_sha256", "") == current["items_sha256"].get<std::string>()))
    return;
  throw UsageError(path + ": the run directory was created for " + layout_text(was) + ", this run is for " +
                   layout_text(current) + "; writers with other layouts would probe items twice (use the same " +
                   "--shard count, data set and --ids, or another --out)");
}

}  // namespace

std::string item_file_name(const std::string& id) {
  const bool clean = !id.empty() && id.size() <= kMaxCleanName && id[0] != '.' &&
                     std::all_of(id.begin(), id.end(), file_name_char);
  if (clean) return id;
  std::string prefix;
  for (char c : id) {
    if (prefix.size() >= 60) break;
    prefix += file_name_char(c) ? c : '_';
  }
  while (!prefix.empty() && prefix[0] == '.') prefix.erase(0, 1);
  return prefix + (prefix.empty() ? "" : "-") + sha256_hex(id).substr(0, 12);
}

bool is_run_dir_file(const std::string& relative) {
  return relative == "run.json" || is_index_name(relative) || relative.rfind("reports/", 0) == 0 ||
         relative.rfind("features/", 0) == 0;
}

std::string index_file_name(const Shard& shard) {
  if (shard.count == 1) return "index.jsonl";
  return "index." + std::to_string(shard.index) + "-of-" + std::to_string(shard.count) + ".jsonl";
}

std::vector<Json> read_index_file(const std::string& path, uint64_t* valid_bytes) {
  const std::string text = read_file(path);
  const fs::path run_dir = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  std::vector<Json> records;
  size_t pos = 0;
  int line = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;  // a torn last line: its item was not finished
    ++line;
    const std::string_view content(text.data() + pos, end - pos);
    if (content.find_first_not_of(" \t\r") != std::string_view::npos) {
      const std::string origin = path + ":" + std::to_string(line);
      records.push_back(parse_json(content, origin));
      check_record(records.back(), origin, run_dir);
    }
    pos = end + 1;
  }
  if (valid_bytes) *valid_bytes = pos;
  return records;
}

std::map<std::string, Json> read_run_index(const std::string& run_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec))
    if (is_index_name(entry.path().filename().string())) files.push_back(entry.path().string());
  if (ec) throw InputError(run_dir, "cannot list the run directory: " + ec.message());
  for (const auto& file : files)
    if (!resolves_inside(run_dir, file))
      throw InputError(file, "a symbolic link leading outside the run directory; refused");
  std::sort(files.begin(), files.end());
  // Per id the last record wins, except that a failure never hides an earlier success.
  std::map<std::string, Json> last;
  for (const auto& file : files)
    for (Json& record : read_index_file(file)) {
      auto it = last.find(record["id"].get<std::string>());
      if (it == last.end()) last.emplace(record["id"].get<std::string>(), std::move(record));
      else if (record["status"] == "ok" || it->second["status"] != "ok") it->second = std::move(record);
    }
  return last;
}

std::vector<std::string> settings_differences(const Json& recorded, const Json& current,
                                              const std::string& recorded_label, const std::string& current_label) {
  std::vector<std::string> out;
  differences(recorded, current, "", {recorded_label, current_label}, out);
  return out;
}

namespace batch {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

IndexWriter::IndexWriter(std::string path) : path_(std::move(path)) {
  // Only ever a regular file: lstat() so a device is never opened, O_NOFOLLOW against a planted
  // symbolic link, fstat() for what was created between the two (docs/hardening.md, "Outputs").
  struct stat st {};
  const auto refuse = [&] { return UsageError(path_ + ": is not a regular file; refusing to append to it"); };
  if (::lstat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) throw refuse();
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
  if (fd_ < 0 && errno == ELOOP) throw refuse();
  if (fd_ < 0) throw RuntimeFailure(path_ + ": cannot open for appending: " + std::strerror(errno));
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw refuse();
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw UsageError(path_ + ": another lvlm-probe batch is writing this index (the same shard started twice?)");
  }
  uint64_t valid = 0;
  read_index_file(path_, &valid);
  const auto size = static_cast<uint64_t>(fs::file_size(path_));
  if (valid < size) {
    spdlog::warn("{}: cutting off a torn last line ({} bytes) left by a killed run", path_, size - valid);
    if (::ftruncate(fd_, static_cast<off_t>(valid)) != 0 || ::fsync(fd_) != 0)
      throw RuntimeFailure(path_ + ": cannot repair the torn last line: " + std::strerror(errno));
  }
}

IndexWriter::~IndexWriter() {
  if (fd_ >= 0) ::close(fd_);  // also releases the lock
}

void IndexWriter::append(const OrderedJson& record) {
  // A file name or reason may hold bytes that are not UTF-8: replaced, never a failed append.
  const std::string line = record.dump(-1, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw RuntimeFailure(path_ + ": append failed: " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) throw RuntimeFailure(path_ + ": fsync failed: " + std::strerror(errno));
}

Json read_run_file(const std::string& run_dir) {
  const std::string path = join_path(run_dir, "run.json");
  if (!resolves_inside(run_dir, path))
    throw InputError(path, "a symbolic link leading outside the run directory; refused");
  const Json run = read_json_file(path);
  if (!run.is_object() || !run.contains("settings"))
    throw InputError(path, std::string("not a run settings file (schema ") + kRunSchema + ")");
  const Json schema = run.value("schema", Json());
  if (schema != kRunSchema)
    throw InputError(path, "schema " + (schema.is_string() ? schema.get<std::string>() : schema.dump()) + ", expected " +
                               kRunSchema + " (written by another version of lvlm-probe?)");
  return run;
}

OrderedJson shard_layout(const std::vector<BatchItem>& listed, const Shard& shard) {
  std::string ids;  // length-prefixed: ids may hold any byte
  for (const auto& item : listed) ids += std::to_string(item.id.size()) + ":" + item.id;
  return {{"shards", shard.count}, {"items", listed.size()}, {"items_sha256", sha256_hex(ids)}};
}

void claim_run_settings(const std::string& run_dir, const OrderedJson& settings, const OrderedJson& layout, bool force) {
  const std::string path = join_path(run_dir, "run.json");
  OrderedJson run = {{"schema", kRunSchema},
                     {"tool", tool_json()},
                     {"created", utc_now()},
                     {"layout", layout},
                     {"settings", settings}};
  if (!file_exists(path)) {
    // Another shard may create run.json first; its settings are compared below.
    AtomicFile file(path);
    file.write(dump_json(run));
    file.commit_if_absent();
  }
  const Json recorded = read_run_file(run_dir);
  check_layout(path, recorded, Json::parse(layout.dump()));
  const std::vector<std::string> diff = settings_differences(recorded["settings"], Json::parse(settings.dump()));
  if (diff.empty()) return;
  std::string list;
  for (const auto& d : diff) list += (list.empty() ? "" : "; ") + d;
  if (!force)
    throw UsageError(path + ": this run's settings differ from the ones its items were probed with: " + list +
                     " (use another --out, or --force to resume anyway)");
  spdlog::warn("{}: resuming with other settings (--force): {}", path, list);
  if (recorded.contains("layout")) run["layout"] = OrderedJson::parse(recorded["layout"].dump());
  run["previous"] = OrderedJson::parse(recorded.dump());
  write_file_atomic(path, dump_json(run));
}

void remove_stale_temps(const std::string& dir, const std::set<std::string>& names) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    const size_t tmp = file.find(".tmp.");
    if (tmp == std::string::npos) continue;
    std::string name = file.substr(0, tmp);
    for (const char* ext : {".json", ".safetensors"})
      if (name.size() > std::strlen(ext) && name.compare(name.size() - std::strlen(ext), std::strlen(ext), ext) == 0)
        name.resize(name.size() - std::strlen(ext));
    if (names.count(name)) fs::remove(entry.path(), ec);
  }
}

void refuse_repeated_runs(const std::vector<std::string>& dirs, const std::string& command) {
  std::map<std::string, std::string> seen;  // canonical path -> the name given first
  for (const auto& dir : dirs) {
    if (!is_directory(dir)) throw InputError(dir, "not a directory (expected a batch run directory)");
    std::error_code ec;
    const std::string real = fs::canonical(dir, ec).string();
    if (ec) throw InputError(dir, "cannot resolve the path: " + ec.message());
    const auto [it, fresh] = seen.emplace(real, dir);
    if (!fresh)
      throw UsageError(command + ": '" + it->second + "' and '" + dir + "' are the same run directory (" + real +
                       "); name each run directory once");
  }
}

}  // namespace batch
}  // namespace lvlm
