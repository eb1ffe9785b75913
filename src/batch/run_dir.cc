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

#include <spdlog/spdlog.h>

#include "lvlm_probe/version.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxCleanName = 100;

bool file_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

void check_record(const Json& j, const std::string& origin) {
  if (!j.is_object()) throw InputError(origin, "expected a JSON object per line");
  if (!j.contains("id") || !j["id"].is_string()) throw InputError(origin, "missing key 'id' (a string)");
  const std::string status = j.value("status", "");
  if (status != "ok" && status != "failed") throw InputError(origin, "key 'status' must be \"ok\" or \"failed\"");
}

bool is_index_name(const std::string& name) {
  return name == "index.jsonl" || (name.rfind("index.", 0) == 0 && name.size() > 12 &&
                                   name.compare(name.size() - 6, 6, ".jsonl") == 0);
}

// Differences between two JSON values, recursing into objects with dotted key paths.
void differences(const Json& a, const Json& b, const std::string& key, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    std::vector<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) keys.push_back(it.key());
    for (const auto& k : keys)
      differences(a.contains(k) ? a[k] : Json(), b.contains(k) ? b[k] : Json(), key.empty() ? k : key + "." + k, out);
    return;
  }
  if (a != b) out.push_back(key + ": " + (a.is_null() ? "absent" : a.dump()) + " in run.json, " +
                            (b.is_null() ? "absent" : b.dump()) + " now");
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
      check_record(records.back(), origin);
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

std::vector<std::string> settings_differences(const Json& recorded, const Json& current) {
  std::vector<std::string> out;
  differences(recorded, current, "", out);
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
  const std::string line = record.dump() + "\n";
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
  const Json run = read_json_file(path);
  if (!run.is_object() || !run.contains("settings"))
    throw InputError(path, std::string("not a run settings file (schema ") + kRunSchema + ")");
  const Json schema = run.value("schema", Json());
  if (schema != kRunSchema)
    throw InputError(path, "schema " + (schema.is_string() ? schema.get<std::string>() : schema.dump()) + ", expected " +
                               kRunSchema + " (written by another version of lvlm-probe?)");
  return run;
}

void claim_run_settings(const std::string& run_dir, const OrderedJson& settings, bool force) {
  const std::string path = join_path(run_dir, "run.json");
  OrderedJson run = {{"schema", kRunSchema},
                     {"tool", {{"name", "lvlm-probe"}, {"version", LVLM_PROBE_VERSION}, {"git", LVLM_PROBE_GIT}}},
                     {"created", utc_now()},
                     {"settings", settings}};
  if (!file_exists(path)) {
    // Another shard may create run.json first; its settings are compared below.
    AtomicFile file(path);
    file.write(dump_json(run));
    file.commit_if_absent();
  }
  const Json recorded = read_run_file(run_dir);
  const std::vector<std::string> diff = settings_differences(recorded["settings"], Json::parse(settings.dump()));
  if (diff.empty()) return;
  std::string list;
  for (const auto& d : diff) list += (list.empty() ? "" : "; ") + d;
  if (!force)
    throw UsageError(path + ": this run's settings differ from the ones its items were probed with: " + list +
                     " (use another --out, or --force to resume anyway)");
  spdlog::warn("{}: resuming with other settings (--force): {}", path, list);
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

}  // namespace batch
}  // namespace lvlm
