// Colours and stage bands shared by every figure.
#include <algorithm>
#include <cstdio>

#include "html.h"

namespace lvlm::render {
namespace {

// viridis at t = 0, 1/9, ..., 1 (matplotlib / viridisLite::viridis(10)). Linear interpolation
// between these keeps the luminance monotonic (tests/render checks it).
constexpr unsigned char kViridis[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3E, 0x4A, 0x89}, {0x31, 0x68, 0x8E}, {0x26, 0x82, 0x8E},
    {0x1F, 0x9E, 0x89}, {0x35, 0xB7, 0x79}, {0x6D, 0xCD, 0x59}, {0xB4, 0xDE, 0x2C}, {0xFD, 0xE7, 0x25}};

std::string hex(double r, double g, double b) {
  char buf[8];
  auto c = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0))); };
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c(r), c(g), c(b));
  return buf;
}

}  // namespace

std::string viridis(double t) {
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 9;
  const int i = std::min(static_cast<int>(t), 8);
  const double f = t - i;
  auto mix = [&](int ch) { return kViridis[i][ch] + f * (kViridis[i + 1][ch] - kViridis[i][ch]); };
  return hex(mix(0), mix(1), mix(2));
}

// Okabe–Ito hues (colour-blind safe) with black first; dashes tell them apart in grey scale.
std::string series_colour(int style) {
  static const char* kColours[] = {"#000000", "#d55e00", "#0072b2", "#009e73",
                                   "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f"};
  return kColours[((style % 8) + 8) % 8];
}

std::string series_dash(int style) {
  static const char* kDashes[] = {"", "6 3", "2 2", "8 3 2 3", "1 3", "10 4", "4 2 1 2", "3 5"};
  return kDashes[((style % 8) + 8) % 8];
}

std::vector<Band> bands_for(std::optional<int> critical, std::optional<int> mutation, int num_layers) {
  std::vector<Band> bands;
  if (!critical || *critical < 1 || *critical > num_layers) return bands;
  const int c = *critical;
  const int m = mutation && *mutation > c && *mutation <= num_layers ? *mutation : num_layers + 1;
  bands.push_back({"rapid_evolution", 1, c});
  if (m > c + 1) bands.push_back({"stabilization", c + 1, m - 1});
  if (m <= num_layers) bands.push_back({"mutation", m, num_layers});
  return bands;
}

namespace {

std::optional<int> layer_or_none(const Json& stages, const char* key) {
  const Json& v = child(stages, key);
  if (!v.is_number_integer()) return std::nullopt;
  const int64_t layer = v.get<int64_t>();
  return layer >= 0 && layer <= 1000000 ? std::optional<int>(static_cast<int>(layer)) : std::nullopt;
}

std::optional<FinalNormStep> final_norm_step(const Json& stages) {
  const Json& step = child(stages, "final_norm_step");
  if (!step.is_object()) return std::nullopt;
  return FinalNormStep{int_or(step, "layer", 0), number(step, "divergence"), text_or(step, "note", "")};
}

}  // namespace

Stages read_stages(const Json& stages, int num_layers) {
  Stages s;
  s.critical = layer_or_none(stages, "critical_layer");
  s.mutation = layer_or_none(stages, "mutation_layer");
  if (s.critical && *s.critical == 0) s.critical.reset();  // report/1 readers wrote 0 for "none"
  if (s.mutation && *s.mutation == 0) s.mutation.reset();
  s.critical_confidence = child(stages, "critical_confidence").is_null() ? number(stages, "confidence")
                                                                         : number(stages, "critical_confidence");
  s.mutation_confidence = number(stages, "mutation_confidence");
  s.method = text_or(stages, "method", "");
  s.final_norm_step = final_norm_step(stages);
  const Json& segments = child(stages, "segments");
  if (segments.is_array()) {
    for (const Json& seg : segments) {
      Band b{text_or(seg, "name", "?"), int_or(seg, "first_layer", 0), int_or(seg, "last_layer", -1)};
      b.first = std::max(b.first, 0);
      b.last = std::min(b.last, num_layers);
      if (b.last >= b.first) s.bands.push_back(b);
    }
  }
  if (s.bands.empty()) s.bands = bands_for(s.critical, s.mutation, num_layers);
  return s;
}

std::vector<Mark> stage_marks(const Stages& s, bool long_labels) {
  std::vector<Mark> marks;
  if (s.critical) marks.push_back({*s.critical, long_labels ? "c = " + std::to_string(*s.critical) : "c"});
  if (s.mutation) marks.push_back({*s.mutation, long_labels ? "m = " + std::to_string(*s.mutation) : "m"});
  if (s.final_norm_step && s.final_norm_step->layer > 0)
    marks.push_back({s.final_norm_step->layer, "final norm", "fnmark"});
  return marks;
}

std::string stage_of(const std::vector<Band>& bands, int layer) {
  for (const Band& b : bands)
    if (layer >= b.first && layer <= b.last) return b.name;
  return "embedding";
}

std::string stage_name(const std::string& id) {
  if (id == "rapid_evolution") return "rapid evolution";
  if (id == "stabilization") return "stabilization";
  if (id == "mutation") return "mutation";
  if (id == "embedding") return "embedding";
  return id;
}

// Light tints that differ in lightness too (rapid evolution mid, stabilization lightest,
// mutation darkest), so the bands stay apart on a grey-scale print.
std::string stage_fill(const std::string& id) {
  if (id == "rapid_evolution") return "#fbd7a4";
  if (id == "stabilization") return "#e9f0f8";
  if (id == "mutation") return "#eaa6bf";
  return "#f4f4f4";
}

std::string stages_text(const Stages& stages) {
  std::string out;
  for (const Band& b : stages.bands) {
    if (!out.empty()) out += " \xC2\xB7 ";
    out += stage_name(b.name) + " " + std::to_string(b.first);
    if (b.last != b.first) out += "\xE2\x80\x93" + std::to_string(b.last);
  }
  if (!stages.critical) out += std::string(out.empty() ? "" : " \xC2\xB7 ") + "critical layer undetermined";
  else if (!stages.mutation) out += std::string(out.empty() ? "" : " \xC2\xB7 ") + "mutation absent";
  return out;
}

}  // namespace lvlm::render
