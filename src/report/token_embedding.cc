// The per-image t-SNE of a report's page (the paper's tsne.py): every generated token's residual
// stream at every layer, read from the report's --dump-features file, embedded in 2-D. Two
// styles (analysis.h): our stages view (unit-length rows, layers 0..L) and the authors' own
// preprocessing (MaxAbsScaler, layers 1..L, fixed layer groups as in tsne.py / combined_tsne.py).
#include <algorithm>
#include <cmath>
#include <map>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/report.h"

namespace lvlm {
namespace {

// tsne.py's groups for LLaVA-1.5-7B (L = 32): layers 1-2, 3-18, 19-31, 32. For other depths the
// middle boundary keeps its relative place (18 / 32 of L); empty groups are left out.
Json paper_groups(int L) {
  const int c = std::max(2, std::min(static_cast<int>(std::lround(18.0 * L / 32)), L - 1));
  Json groups = Json::array();
  auto add = [&](int first, int last) {
    if (first > last) return;
    const std::string name = first == last ? "layer " + std::to_string(first)
                                           : "layers " + std::to_string(first) + "\xE2\x80\x93" + std::to_string(last);
    groups.push_back({{"name", name}, {"first_layer", first}, {"last_layer", last}});
  };
  add(1, std::min(2, L - 1));
  add(3, c);
  add(c + 1, L - 1);
  add(L, L);
  return groups;
}

// scikit-learn's MaxAbsScaler: each column divided by its largest magnitude (columns of zeros stay).
void max_abs_scale(std::vector<float>& rows, size_t dim) {
  std::vector<float> scale(dim, 0.0f);
  for (size_t i = 0; i < rows.size(); ++i) scale[i % dim] = std::max(scale[i % dim], std::abs(rows[i]));
  for (size_t i = 0; i < rows.size(); ++i)
    if (scale[i % dim] > 0) rows[i] /= scale[i % dim];
}

void unit_rows(std::vector<float>& rows, size_t dim) {
  for (size_t r = 0; r * dim < rows.size(); ++r) {
    double norm2 = 0;
    for (size_t i = 0; i < dim; ++i) norm2 += double(rows[r * dim + i]) * rows[r * dim + i];
    const double inv = norm2 > 0 && std::isfinite(norm2) ? 1.0 / std::sqrt(norm2) : 0.0;
    for (size_t i = 0; i < dim; ++i) rows[r * dim + i] = static_cast<float>(rows[r * dim + i] * inv);
  }
}

// The file's "token.<step>" tensors by step, checked against the report's L and hidden size.
std::map<int, const TensorView*> token_tensors(const SafetensorsFile& file, int L, int64_t hidden) {
  std::map<int, const TensorView*> out;
  for (const TensorView& t : file.tensors()) {
    if (t.name.rfind("token.", 0) != 0) continue;
    const std::string step = t.name.substr(6);
    if (step.empty() || step.size() > 6 || step.find_first_not_of("0123456789") != std::string::npos) continue;
    if (t.shape.size() != 2 || t.shape[0] != L + 1 || t.shape[1] != hidden)
      throw InputError(file.path(), "tensor " + t.name + " has shape " + shape_string(t.shape) + ", the report's model needs [" +
                                        std::to_string(L + 1) + ", " + std::to_string(hidden) + "]");
    out[std::stoi(step)] = &t;
  }
  if (out.empty())
    throw InputError(file.path(), "no token.<step> tensors: not a --dump-features file (see docs/figures.md)");
  return out;
}

}  // namespace

// write_features() records the image and the tokens of its run: a file of another run (another
// image, or the same image with other tokens) would draw its states under this report's tokens.
void check_features_of_run(const SafetensorsFile& file, const Json& report) {
  const auto& meta = file.metadata();
  static const Json none;  // null: what an absent member reads as, so present ones are read in place
  const Json& input = report.contains("input") ? report["input"] : none;
  auto image = meta.find("image_sha256");
  if (image != meta.end() && !image->second.empty() && input.is_object() && input.contains("image_sha256") &&
      input["image_sha256"].is_string()) {
    const std::string want = input["image_sha256"].get<std::string>();
    if (!want.empty() && want != image->second)
      throw InputError(file.path(), "was written for another image (SHA-256 " + image->second.substr(0, 12) +
                                        "..., the report's is " + want.substr(0, 12) +
                                        "...): give the --dump-features file of the report's own run");
  }
  auto tokens = meta.find("tokens");
  if (tokens == meta.end()) return;
  const Json steps = parse_json(tokens->second, file.path() + " (metadata 'tokens')");
  if (!steps.is_array()) return;
  const Json& output = report.contains("output") ? report["output"] : none;
  const Json& listed = output.is_object() && output.contains("token_ids") ? output["token_ids"] : none;
  const Json& ids = listed.is_array() ? listed : none;  // null has size 0: no step is known
  for (const Json& s : steps) {
    if (!s.is_object() || !s.contains("step") || !s["step"].is_number_integer() || !s.contains("token_id")) continue;
    const int64_t step = s["step"].get<int64_t>();
    const bool known = step >= 0 && step < static_cast<int64_t>(ids.size());
    if (!known || ids[step] != s["token_id"])
      throw InputError(file.path(), "step " + std::to_string(step) + " holds token " + s["token_id"].dump() +
                                        ", the report's step " + std::to_string(step) + " is " +
                                        (known ? "token " + ids[step].dump() : "not generated") +
                                        ": give the --dump-features file of the report's own run");
  }
}

const char* token_embedding_style_name(TokenEmbeddingStyle style) {
  return style == TokenEmbeddingStyle::paper ? "paper" : "stages";
}

TokenEmbeddingStyle parse_token_embedding_style(const std::string& name) {
  if (name == "stages") return TokenEmbeddingStyle::stages;
  if (name == "paper") return TokenEmbeddingStyle::paper;
  throw UsageError("--tsne: '" + name + "' is not one of stages, paper");
}

Json token_embedding(const std::string& features_path, const Json& report, TokenEmbeddingStyle style,
                     size_t max_points, uint64_t seed) {
  validate_report(report, "report");
  const int L = report["model"]["num_layers"].get<int>();
  const Json& hidden_json = report["model"].contains("hidden_size") ? report["model"]["hidden_size"] : Json();
  if (!hidden_json.is_number_integer()) throw InputError("report", "model.hidden_size is missing: cannot check the features");
  const int64_t hidden = hidden_json.get<int64_t>();
  const auto file = SafetensorsFile::open(features_path);
  check_features_of_run(*file, report);
  const auto tensors = token_tensors(*file, L, hidden);
  const bool paper = style == TokenEmbeddingStyle::paper;
  const int first = paper ? 1 : 0, per_step = L + 1 - first;  // tsne.py drops the embedding layer
  const size_t steps = std::min(tensors.size(), std::max<size_t>(max_points / per_step, 1));

  std::vector<float> rows;
  Json points = Json::array();
  size_t used = 0;
  for (const auto& [step, tensor] : tensors) {
    if (used++ == steps) break;
    const std::vector<float> values = tensor_as_f32(*tensor);
    rows.insert(rows.end(), values.begin() + first * hidden, values.end());
    for (int l = first; l <= L; ++l) points.push_back({{"step", step}, {"layer", l}});
  }
  if (paper) max_abs_scale(rows, static_cast<size_t>(hidden));
  else unit_rows(rows, static_cast<size_t>(hidden));
  EmbeddingOptions options;
  options.seed = seed;
  if (paper) options.perplexity = 40, options.iterations = 2000;  // tsne.py's TSNE(perplexity=40, n_iter=2000)
  const Embedding e = embed_2d(rows, static_cast<size_t>(hidden), options);
  for (size_t i = 0; i < points.size(); ++i) {
    points[i]["x"] = e.points[i][0];
    points[i]["y"] = e.points[i][1];
  }
  return {{"method", "tsne"},
          {"style", token_embedding_style_name(style)},
          {"scaling", paper ? "MaxAbsScaler" : "unit length"},
          {"perplexity", e.perplexity},
          {"iterations", options.iterations},
          {"kl_divergence", std::isfinite(e.kl_divergence) ? Json(e.kl_divergence) : Json(nullptr)},
          {"steps", tensors.size()},
          {"steps_embedded", steps},
          {"points", points},
          {"groups", paper ? paper_groups(L) : Json(nullptr)}};
}

}  // namespace lvlm
