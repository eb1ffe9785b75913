// preprocessor_config.json -> ClipPreprocessConfig, with CLIPImageProcessor.__init__'s defaults
// for omitted or null keys and get_size_dict's readings of `size` and `crop_size` (an int, a
// [height, width] list, or a dict with one of its valid key sets).
#include "lvlm_probe/image.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/model_config.h"
#include "pixel_steps.h"

namespace lvlm {
namespace {

// A JSON value for a one-line message, cut short if long.
std::string shown(const Json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// A side in pixels: at most the largest vision-tower input config.json may declare.
int positive_int(const Json& v, const std::string& key, const std::string& origin) {
  if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > kMaxImageSize)
    throw InputError(origin, "key '" + key + "': expected a positive integer up to " + std::to_string(kMaxImageSize) +
                                 " (pixels), found " + shown(v));
  return static_cast<int>(v.get<int64_t>());
}

// An area every image would be resized or cropped to, checked against the decoder's pixel cap
// before any image is read: no setting may make preprocessing allocate more than decoding may.
void check_area(int64_t height, int64_t width, const std::string& key, const std::string& origin) {
  const uint64_t pixels = static_cast<uint64_t>(height) * static_cast<uint64_t>(width);
  if (pixels > DecodeLimits{}.max_pixels)
    throw InputError(origin, "key '" + key + "': every image would become at least " + std::to_string(height) + "x" +
                                 std::to_string(width) + " (" + std::to_string(pixels) +
                                 " pixels), above the limit of " + std::to_string(DecodeLimits{}.max_pixels) + " pixels");
}

// get_size_dict: int -> square (crop) or shortest edge (size); [h, w] -> height/width.
struct SizeDict {
  int shortest_edge = 0, height = 0, width = 0;
};

SizeDict read_size(const Json& v, const std::string& key, bool default_to_square, const std::string& origin) {
  SizeDict s;
  if (v.is_number()) {
    int n = positive_int(v, key, origin);
    if (default_to_square)
      s.height = s.width = n;
    else
      s.shortest_edge = n;
  } else if (v.is_array() && v.size() == 2) {
    s.height = positive_int(v[0], key + "[0]", origin);
    s.width = positive_int(v[1], key + "[1]", origin);
  } else if (v.is_object()) {
    bool hw = v.contains("height") && v.contains("width") && v.size() == 2;
    bool se = v.contains("shortest_edge") && (v.size() == 1 || (v.size() == 2 && v.contains("longest_edge")));
    if (!hw && !se && !(v.size() == 1 && v.contains("longest_edge")))
      throw InputError(
          origin,
          "key '" + key + "': expected {\"shortest_edge\": N} or {\"height\": H, \"width\": W}, found " + shown(v));
    if (hw) {
      s.height = positive_int(v["height"], key + ".height", origin);
      s.width = positive_int(v["width"], key + ".width", origin);
    }
    if (se) s.shortest_edge = positive_int(v["shortest_edge"], key + ".shortest_edge", origin);
  } else {
    throw InputError(origin,
                     "key '" + key + "': expected an integer, [height, width] or a size object, found " + shown(v));
  }
  return s;
}

}  // namespace

namespace image_steps {

std::array<double, 3> read_triple(const Json& j, const char* key, const std::array<double, 3>& fallback,
                                  const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_number()) return {it->get<double>(), it->get<double>(), it->get<double>()};
  if (!it->is_array() || it->size() != 3 || !(*it)[0].is_number() || !(*it)[1].is_number() || !(*it)[2].is_number())
    throw InputError(origin,
                     std::string("key '") + key + "': expected 3 numbers (one per RGB channel), found " + shown(*it));
  return {(*it)[0].get<double>(), (*it)[1].get<double>(), (*it)[2].get<double>()};
}

// PIL.Image.Resampling numbers; ours are the same for the convolution filters.
ResampleFilter read_resample(const Json& j, const std::string& origin) {
  int r = json_get<int>(j, "resample", 3, origin);
  if (r < 1 || r > 5)
    throw InputError(origin, "key 'resample': " + std::to_string(r) +
                                 " is not supported (expected PIL's 3 = BICUBIC, or 1, 2, 4, 5; 0 = NEAREST is not "
                                 "implemented)");
  return static_cast<ResampleFilter>(r);
}

Normalization read_normalization(const Json& j, const Normalization& defaults, const std::string& origin) {
  Normalization n;
  n.do_rescale = json_get<bool>(j, "do_rescale", defaults.do_rescale, origin);
  n.rescale_factor = json_get<double>(j, "rescale_factor", defaults.rescale_factor, origin);
  n.do_normalize = json_get<bool>(j, "do_normalize", defaults.do_normalize, origin);
  n.mean = read_triple(j, "image_mean", defaults.mean, origin);
  n.std = read_triple(j, "image_std", defaults.std, origin);
  for (double s : n.std)
    if (n.do_normalize && s == 0.0) throw InputError(origin, "key 'image_std': a standard deviation of 0 divides by zero");
  return n;
}

}  // namespace image_steps

ClipPreprocessConfig parse_preprocessor_config(std::string_view text, const std::string& origin) {
  Json j = parse_json(text, origin);
  if (!j.is_object()) throw InputError(origin, "expected a JSON object (preprocessor_config.json)");
  for (const char* key : {"image_processor_type", "feature_extractor_type"}) {
    std::string type = json_get<std::string>(j, key, "", origin);
    if (!type.empty() && type != "CLIPImageProcessor" && type != "CLIPFeatureExtractor")
      throw InputError(origin, std::string("key '") + key + "': '" + type +
                                   "' is not supported (expected CLIPImageProcessor, as LLaVA-1.5 uses)");
  }
  ClipPreprocessConfig c;
  c.do_resize = json_get<bool>(j, "do_resize", c.do_resize, origin);
  if (j.contains("size") && !j["size"].is_null()) {
    SizeDict s = read_size(j["size"], "size", /*default_to_square=*/false, origin);
    c.shortest_edge = s.shortest_edge, c.resize_height = s.height, c.resize_width = s.width;
    if (j.contains("use_square_size") && s.shortest_edge > 0)  // KOSMOS-2 compatibility branch
      c.resize_height = c.resize_width = s.shortest_edge, c.shortest_edge = 0;
    if (c.shortest_edge == 0 && c.resize_height == 0)
      throw InputError(origin, "key 'size': {\"longest_edge\"} alone is not supported by CLIPImageProcessor");
    if (c.shortest_edge > 0) check_area(c.shortest_edge, c.shortest_edge, "size.shortest_edge", origin);
    else check_area(c.resize_height, c.resize_width, "size", origin);
  }
  c.resample = image_steps::read_resample(j, origin);
  c.do_center_crop = json_get<bool>(j, "do_center_crop", c.do_center_crop, origin);
  if (j.contains("crop_size") && !j["crop_size"].is_null()) {
    SizeDict s = read_size(j["crop_size"], "crop_size", /*default_to_square=*/true, origin);
    if (s.height == 0)
      throw InputError(origin, "key 'crop_size': expected {\"height\": H, \"width\": W} or an integer");
    c.crop_height = s.height, c.crop_width = s.width;
    check_area(c.crop_height, c.crop_width, "crop_size", origin);
  }
  const image_steps::Normalization n = image_steps::read_normalization(
      j, {c.do_rescale, c.rescale_factor, c.do_normalize, c.image_mean, c.image_std}, origin);
  c.do_rescale = n.do_rescale, c.rescale_factor = n.rescale_factor, c.do_normalize = n.do_normalize;
  c.image_mean = n.mean, c.image_std = n.std;
  return c;
}

ClipPreprocessConfig load_preprocessor_config(const std::string& path) {
  return parse_preprocessor_config(read_file(path, JsonLimits{}.max_bytes), path);
}

}  // namespace lvlm
