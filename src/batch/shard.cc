// --shard I/N and --shard auto (Slurm job arrays). Item i goes to shard i mod N: a partition
// that needs no coordination between shards and keeps their sizes within one item.
#include <cctype>
#include <string>

#include "lvlm_probe/batch.h"

namespace lvlm {
namespace {

bool parse_count(const std::string& text, long long* out) {
  if (text.empty() || text.size() > 9) return false;
  for (unsigned char c : text)
    if (!std::isdigit(c)) return false;
  *out = std::stoll(text);
  return true;
}

// A Slurm variable as a number; `required` ones must be present.
bool slurm_number(const Environment& env, const char* name, long long* out) {
  const char* value = env(name);
  if (!value) return false;
  if (!parse_count(value, out)) throw UsageError(std::string("--shard auto: ") + name + "='" + value + "' is not a number");
  return true;
}

// Array tasks 0-9, 1-10 or 0-18:2 all map to shards 0..N-1; an irregular list (--array=1,5,7)
// cannot, since a task does not know its place in it.
Shard shard_from_slurm(const Environment& env) {
  long long id = 0, first = 0, last = 0, step = 1, count = 0;
  if (!slurm_number(env, "SLURM_ARRAY_TASK_ID", &id))
    throw UsageError("--shard auto: SLURM_ARRAY_TASK_ID is not set (not a Slurm array task); give --shard I/N");
  const bool have_min = slurm_number(env, "SLURM_ARRAY_TASK_MIN", &first);
  const bool have_max = slurm_number(env, "SLURM_ARRAY_TASK_MAX", &last);
  slurm_number(env, "SLURM_ARRAY_TASK_STEP", &step);
  if (step < 1) step = 1;
  const bool have_count = slurm_number(env, "SLURM_ARRAY_TASK_COUNT", &count);
  if (!have_count && !(have_min && have_max))
    throw UsageError("--shard auto: neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX is set; give --shard I/N");
  if (!have_count) count = (last - first) / step + 1;
  const long long index = (id - first) / step;
  if (count < 1 || index < 0 || index >= count || (id - first) % step != 0)
    throw UsageError("--shard auto: array task " + std::to_string(id) + " is not task 0.." + std::to_string(count - 1) +
                     " of a regular array (min " + std::to_string(first) + ", step " + std::to_string(step) +
                     "); use --array=0-" + std::to_string(count - 1) + " or give --shard I/N");
  return {static_cast<int>(index), static_cast<int>(count)};
}

}  // namespace

std::string Shard::text() const { return std::to_string(index) + "/" + std::to_string(count); }

Shard parse_shard(const std::string& text, const Environment& env) {
  if (text == "auto") return shard_from_slurm(env);
  const size_t slash = text.find('/');
  long long index = 0, count = 0;
  if (slash == std::string::npos || !parse_count(text.substr(0, slash), &index) ||
      !parse_count(text.substr(slash + 1), &count))
    throw UsageError("--shard: '" + text + "' is not I/N (e.g. 0/4) or auto");
  if (count < 1 || index >= count)
    throw UsageError("--shard: '" + text + "': I must be 0.." + std::to_string(count - 1) + " for N = " + std::to_string(count));
  return {static_cast<int>(index), static_cast<int>(count)};
}

std::vector<BatchItem> shard_items(const std::vector<BatchItem>& items, const Shard& shard) {
  std::vector<BatchItem> out;
  for (size_t i = static_cast<size_t>(shard.index); i < items.size(); i += static_cast<size_t>(shard.count))
    out.push_back(items[i]);
  return out;
}

}  // namespace lvlm
