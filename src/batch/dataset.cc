// Data-set readers for `batch`: AMBER query files as published, MSCOCO annotation files, JSONL,
// and plain folders of images. Every problem names the file and the item (index or line).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "lvlm_probe/batch.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;

// COCO's instances_*.json reaches 160 MB, beyond the JSON reader's default cap for reports.
constexpr size_t kMaxDatasetBytes = size_t{2} << 30;

// Parses a data-set file; with `keep` set, top-level keys outside it are dropped while parsing
// (COCO's annotations and segmentations never reach memory).
Json parse_dataset_json(const std::string& path, const std::set<std::string>& keep = {}) {
  const std::string text = read_file(path);
  if (text.size() > kMaxDatasetBytes) throw InputError(path, "larger than 2 GiB");
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > 64) throw InputError(path, "JSON nested deeper than 64 levels");
    return keep.empty() || depth != 1 || event != Json::parse_event_t::key || keep.count(parsed.get<std::string>());
  };
  try {
    return Json::parse(text, callback);
  } catch (const Json::parse_error& e) {
    const std::string what = e.what();
    const auto colon = what.find("] ");
    throw InputError(path, "invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon + 2)));
  }
}

// An id may be written as a number (AMBER, COCO) or a string (JSONL).
std::string id_text(const Json& item, const std::string& where) {
  auto it = item.find("id");
  if (it == item.end()) throw InputError(where + "missing key 'id'");
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  if (it->is_string() && !it->get<std::string>().empty()) return it->get<std::string>();
  throw InputError(where + "key 'id': expected an integer or a non-empty string, found " + it->dump());
}

std::string string_key(const Json& item, const char* key, const std::string& where) {
  auto it = item.find(key);
  if (it == item.end()) throw InputError(where + "missing key '" + key + "'");
  if (!it->is_string() || it->get<std::string>().empty())
    throw InputError(where + "key '" + key + "': expected a non-empty string, found " + it->dump());
  return it->get<std::string>();
}

std::string images_dir(const DatasetOptions& o) {
  if (!o.images.empty()) return o.images;
  if (o.kind == DatasetKind::folder) return o.data;
  const std::string parent = fs::path(o.data).parent_path().string();
  return parent.empty() ? "." : parent;
}

std::string image_path(const DatasetOptions& o, const std::string& name) { return join_path(images_dir(o), name); }

std::vector<BatchItem> read_amber(const DatasetOptions& o) {
  const Json root = parse_dataset_json(o.data);
  if (!root.is_array()) throw InputError(o.data, "expected a JSON array of {id, image, query} (an AMBER query file)");
  std::vector<BatchItem> items;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string where = o.data + ": [" + std::to_string(i) + "]: ";
    if (!root[i].is_object()) throw InputError(where + "expected an object {id, image, query}");
    items.push_back({id_text(root[i], where), image_path(o, string_key(root[i], "image", where)),
                     string_key(root[i], "query", where)});
  }
  return items;
}

std::vector<BatchItem> read_coco(const DatasetOptions& o) {
  const Json root = parse_dataset_json(o.data, {"images"});
  if (!root.is_object() || !root.contains("images") || !root["images"].is_array())
    throw InputError(o.data, "missing key 'images' (an array of {id, file_name}, as in captions_*.json or instances_*.json)");
  std::vector<BatchItem> items;
  const Json& images = root["images"];
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string where = o.data + ": images[" + std::to_string(i) + "]: ";
    if (!images[i].is_object()) throw InputError(where + "expected an object {id, file_name}");
    items.push_back({id_text(images[i], where), image_path(o, string_key(images[i], "file_name", where)), o.prompt});
  }
  return items;
}

std::vector<BatchItem> read_jsonl(const DatasetOptions& o) {
  std::istringstream in(read_file(o.data));
  std::vector<BatchItem> items;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string origin = o.data + ":" + std::to_string(number);
    const Json j = parse_json(line, origin);
    const std::string where = origin + ": ";
    if (!j.is_object()) throw InputError(where + "expected an object {id, image, prompt}");
    std::string prompt = o.prompt;
    if (!j.contains("prompt") && o.prompt.empty())
      throw InputError(where + "missing key 'prompt' (give each line a prompt, or one for all lines with --prompt)");
    if (j.contains("prompt")) prompt = string_key(j, "prompt", where);
    items.push_back({id_text(j, where), image_path(o, string_key(j, "image", where)), prompt});
  }
  return items;
}

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> known = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".pnm"};
  return known.count(ext) != 0;
}

std::vector<BatchItem> read_folder(const DatasetOptions& o) {
  if (!is_directory(o.data)) throw InputError(o.data, "not a directory (--dataset folder reads the images in it)");
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(o.data, ec))
    if (entry.is_regular_file(ec) && is_image_name(entry.path())) names.push_back(entry.path().filename().string());
  if (ec) throw InputError(o.data, "cannot list: " + ec.message());
  if (names.empty()) throw InputError(o.data, "holds no images (.jpg, .jpeg, .png, .bmp, .gif, .ppm)");
  std::sort(names.begin(), names.end());  // byte order, whatever the locale
  std::vector<BatchItem> items;
  for (const auto& name : names) items.push_back({name, image_path(o, name), o.prompt});
  return items;
}

void check_unique(const std::vector<BatchItem>& items, const std::string& path) {
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    auto [it, fresh] = seen.emplace(items[i].id, i);
    if (!fresh)
      throw InputError(path, "id '" + items[i].id + "' appears twice (items " + std::to_string(it->second) + " and " +
                                 std::to_string(i) + "); ids name the reports and must be unique");
  }
}

bool parse_integer(const std::string& s, long long* out) {
  if (s.empty() || s.size() > 18) return false;
  size_t start = s[0] == '-' ? 1 : 0;
  if (start == s.size() || !std::all_of(s.begin() + start, s.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  *out = std::stoll(s);
  return true;
}

// --ids: each element is an id, or an integer range a-b selecting the integer ids inside it.
std::vector<BatchItem> select_ids(const std::vector<BatchItem>& items, const std::string& list) {
  std::set<std::string> wanted;
  std::set<std::string> all;
  for (const auto& item : items) all.insert(item.id);
  std::stringstream ss(list);
  for (std::string element; std::getline(ss, element, ',');) {
    if (element.empty()) throw UsageError("--ids: empty element in '" + list + "'");
    if (all.count(element)) {
      wanted.insert(element);
      continue;
    }
    const size_t dash = element.find('-', 1);
    long long lo = 0, hi = 0, value = 0;
    if (dash == std::string::npos || !parse_integer(element.substr(0, dash), &lo) ||
        !parse_integer(element.substr(dash + 1), &hi) || lo > hi)
      throw UsageError("--ids: no item has id '" + element + "'");
    size_t found = 0;
    for (const auto& id : all)
      if (parse_integer(id, &value) && value >= lo && value <= hi && std::to_string(value) == id)
        found += wanted.insert(id).second ? 1 : 0;
    if (found == 0) throw UsageError("--ids: no item has an id in the range " + element);
  }
  std::vector<BatchItem> out;
  for (const auto& item : items)
    if (wanted.count(item.id)) out.push_back(item);
  return out;
}

}  // namespace

DatasetKind parse_dataset_kind(const std::string& name) {
  if (name == "amber") return DatasetKind::amber;
  if (name == "coco") return DatasetKind::coco;
  if (name == "jsonl") return DatasetKind::jsonl;
  if (name == "folder") return DatasetKind::folder;
  throw UsageError("--dataset: '" + name + "' is not a data-set kind (amber, coco, jsonl, folder)");
}

const char* dataset_kind_name(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::amber: return "amber";
    case DatasetKind::coco: return "coco";
    case DatasetKind::jsonl: return "jsonl";
    case DatasetKind::folder: return "folder";
  }
  return "?";
}

std::vector<BatchItem> load_dataset(const DatasetOptions& o) {
  const char* kind = dataset_kind_name(o.kind);
  if (o.kind == DatasetKind::amber && !o.prompt.empty())
    throw UsageError("--prompt: AMBER items carry their own query; leave --prompt out with --dataset amber");
  if ((o.kind == DatasetKind::coco || o.kind == DatasetKind::folder) && o.prompt.empty())
    throw UsageError(std::string("--prompt is required with --dataset ") + kind + " (its items hold no question)");
  if (!o.images.empty() && !is_directory(o.images)) throw InputError(o.images, "not a directory (--images)");
  std::vector<BatchItem> items;
  switch (o.kind) {
    case DatasetKind::amber: items = read_amber(o); break;
    case DatasetKind::coco: items = read_coco(o); break;
    case DatasetKind::jsonl: items = read_jsonl(o); break;
    case DatasetKind::folder: items = read_folder(o); break;
  }
  check_unique(items, o.data);
  if (!o.ids.empty()) items = select_ids(items, o.ids);
  if (o.limit > 0 && items.size() > o.limit) items.resize(o.limit);
  return items;
}

}  // namespace lvlm
