// Synthetic reports and summaries for the render tests, shaped like the paper's LLaVA-1.5 curves:
// divergences decay over rapid evolution [1, c], stay low over stabilization, jump at the
// mutation layer; a competitor wins the stabilization layers and the emitted token takes over at
// the mutation layer. Every key of docs/report-schema.md is present.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "lvlm_probe/json.h"

namespace lvlm::test {

// Small deterministic generator (the same numbers on every platform).
struct Lcg {
  uint64_t s;
  explicit Lcg(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  double uniform() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(s >> 11) / 9007199254740992.0;
  }
  double noise(double spread) { return std::exp(spread * (uniform() - 0.5)); }  // log-uniform factor
};

inline Json summarize(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    const double pos = p * (v.size() - 1);
    const size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
  };
  double sum = 0;
  for (double x : v) sum += x;
  return {{"mean", sum / v.size()}, {"median", q(0.5)}, {"q1", q(0.25)}, {"q3", q(0.75)},
          {"min", v.front()}, {"max", v.back()}};
}

inline Json layer_array(const std::vector<double>& v, bool null_at_zero) {
  Json a = Json::array();
  for (size_t i = 0; i < v.size(); ++i) a.push_back(i == 0 && null_at_zero ? Json(nullptr) : Json(v[i]));
  return a;
}

inline const char* kWords[] = {"▁The", "▁image", "▁shows", "▁a", "▁cat", "▁sitting", "▁on", "▁the", "▁red",
                               "▁sofa", ",", "▁next", "▁to", "▁window", "."};

// One token's rows. c, m: its own boundaries.
inline Json synthetic_token(int step, int L, int c, int m, int top_k, Lcg& rng) {
  std::string piece = kWords[step % 15];
  if (piece.rfind("▁", 0) == 0) piece = " " + piece.substr(3);
  const int64_t emitted = 1000 + step % 15, rival = 2000 + step % 15;
  std::vector<double> d(L + 1), p(L + 1), rank(L + 1), ent(L + 1), dfin(L + 1), hn(L + 1), cp(L + 1), cf(L + 1);
  Json topk = Json::array();
  std::vector<int64_t> top1;
  std::vector<double> top1_p;
  for (int l = 0; l <= L; ++l) {
    d[l] = l <= c ? 0.45 * std::exp(-3.0 * (l - 1) / c) : l == m ? 0.25 : l < m ? 2e-3 : 0.02;
    d[l] *= rng.noise(0.6);
    const double rival_p = l > c && l < m ? 0.55 : l >= m ? 0.08 : 0.01;
    p[l] = l >= m ? 0.72 : l > c ? 0.2 : 0.005 * l / c;
    ent[l] = 7.5 - 6.0 * std::min(l, c) / c + (l >= m ? 0.3 : 0);
    dfin[l] = l == L ? 0 : 0.6 * (1 - double(l) / L) + 0.05;
    hn[l] = 1 + l * 2.5;
    cp[l] = 0.8 + 0.15 * l / L;
    cf[l] = 0.05 + 0.95 * l / L;
    std::vector<std::pair<double, int64_t>> entries = {{p[l], emitted}, {rival_p, rival}};
    for (int k = 0; k < top_k; ++k) entries.push_back({0.02 / (k + 1) * rng.noise(0.2), 3000 + (l * 7 + k) % 50});
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.first > b.first; });
    Json ids = Json::array(), pieces = Json::array(), probs = Json::array();
    for (int k = 0; k < top_k; ++k) {
      ids.push_back(entries[k].second);
      const int64_t id = entries[k].second;
      pieces.push_back(id == emitted ? piece : id == rival ? piece + "s" : "tok" + std::to_string(id));
      probs.push_back(entries[k].first);
      if (id == emitted) rank[l] = k + 1;
    }
    if (rank[l] == 0) rank[l] = top_k + 1 + l % 7;
    topk.push_back({{"ids", ids}, {"pieces", pieces}, {"probs", probs}});
    top1.push_back(entries[0].second);
    top1_p.push_back(entries[0].first);
  }
  // competitors: every layer's top-1 with its probability at every layer (the emitted token's is
  // p_token; a filler token's is its own value where it wins, 1e-4 elsewhere).
  Json competitors = Json::array();
  std::vector<int64_t> seen;
  for (int l = 0; l <= L; ++l) {
    if (std::find(seen.begin(), seen.end(), top1[l]) != seen.end()) continue;
    seen.push_back(top1[l]);
    std::vector<double> curve(L + 1);
    for (int k = 0; k <= L; ++k)
      curve[k] = top1[l] == emitted ? p[k] : top1[l] == rival ? (k > c && k < m ? 0.55 : k >= m ? 0.08 : 0.01)
                                     : top1[k] == top1[l] ? top1_p[k] : 1e-4;
    const std::string name = top1[l] == emitted ? piece : top1[l] == rival ? piece + "s" : "tok" + std::to_string(top1[l]);
    competitors.push_back({{"id", top1[l]}, {"piece", name}, {"p", curve}});
  }
  return {{"step", step}, {"position", 600 + step}, {"id", emitted}, {"piece", piece}, {"critical_layer", c},
          {"mutation_layer", m}, {"p_token", layer_array(p, false)}, {"rank", layer_array(rank, false)},
          {"entropy", layer_array(ent, false)}, {"d_prev", layer_array(d, true)}, {"d_final", layer_array(dfin, false)},
          {"h_norm", layer_array(hn, false)}, {"cos_prev", layer_array(cp, true)}, {"cos_final", layer_array(cf, false)},
          {"topk", topk}, {"competitors", competitors}};
}

inline Json per_layer(const Json& tokens, int L, int c, int m) {
  Json layers = Json::array();
  for (int l = 0; l <= L; ++l) {
    Json entry = {{"layer", l},
                  {"tap", l == 0 ? "blocks.0.hook_resid_pre" : "blocks." + std::to_string(l - 1) + ".hook_resid_post"},
                  {"stage", l == 0 ? "embedding" : l <= c ? "rapid_evolution" : l < m ? "stabilization" : "mutation"}};
    for (const char* key : {"p_token", "entropy", "d_prev", "d_final", "h_norm", "cos_prev", "cos_final", "rank"}) {
      std::vector<double> v;
      for (const Json& t : tokens)
        if (t[key][l].is_number()) v.push_back(t[key][l].get<double>());
      entry[key] = summarize(v);
    }
    layers.push_back(entry);
  }
  return layers;
}

inline Json stages_json(const Json& layers, int L, int c, int m) {
  Json curve = Json::array();
  for (int l = 1; l <= L; ++l) curve.push_back(layers[l]["d_prev"]["median"]);
  return {{"method", "auto"}, {"critical_layer", c}, {"mutation_layer", m}, {"confidence", 0.91},
          {"mutation_window", {c + 1, L}}, {"critical_layer_mode", c}, {"mutation_layer_mode", m}, {"config", nullptr},
          {"segments", {{{"name", "rapid_evolution"}, {"first_layer", 1}, {"last_layer", c}},
                        {{"name", "stabilization"}, {"first_layer", c + 1}, {"last_layer", m - 1}},
                        {{"name", "mutation"}, {"first_layer", m}, {"last_layer", L}}}},
          {"aggregate_curve", curve}};
}

// A report with `T` tokens of an L-layer model; overall c and m, per-token m varies by ±1.
inline Json synthetic_report(int T, int L, int c, int m, uint64_t seed = 1) {
  Lcg rng(seed);
  Json tokens = Json::array(), ids = Json::array();
  std::string text;
  for (int t = 0; t < T; ++t) {
    const int mt = std::clamp(m + (t % 3) - 1, c + 1, L);
    tokens.push_back(synthetic_token(t, L, c, mt, 5, rng));
    ids.push_back(tokens.back()["id"]);
    text += tokens.back()["piece"].get<std::string>();
  }
  const Json layers = per_layer(tokens, L, c, m);
  Json report = {{"schema", "lvlm-probe/report/1"},
                 {"tool", {{"name", "lvlm-probe"}, {"version", "0.1.0"}, {"git", "synthetic"}}},
                 {"model", {{"path", "synthetic/llava-1.5-7b"}, {"family", "llava"}, {"architecture", "LlavaForConditionalGeneration"},
                            {"num_layers", L}, {"hidden_size", 4096}, {"vocab_size", 32064}, {"weights_dtype", "F16"},
                            {"dtype", "f32"}, {"device", "cpu"}}},
                 {"input", {{"image", "images/cat.jpg"}, {"image_sha256", std::string(64, 'a')},
                            {"prompt", "Describe the image."}, {"template", "llava_v1"},
                            {"prompt_text", "USER: <image>\nDescribe the image. ASSISTANT:"},
                            {"prompt_ids", {1, 3148, 1001, 32000, 13}}, {"image_token_positions", {3, 4}},
                            {"num_image_features", 576}, {"sequence_length", 600}}},
                 {"settings", {{"lens", "norm"}, {"divergence", "jsd"}, {"top_k", 5}, {"max_new_tokens", T},
                               {"stop_at_eos", true}, {"pad_square", false},
                               {"stages", {{"method", "auto"}, {"critical_layer", nullptr}, {"window", nullptr}, {"config", nullptr}}},
                               {"skip_layers", Json::array()}, {"skip_stabilization", false}}},
                 {"output", {{"token_ids", ids}, {"text", text}, {"stop_reason", "max_new_tokens"}}},
                 {"tokens", tokens},
                 {"layers", layers},
                 {"stages", stages_json(layers, L, c, m)},
                 {"skip", nullptr},
                 {"timing", {{"load", 1.5}, {"vision", 0.2}, {"prefill", 0.8}, {"decode", 3.1}, {"lens", 0.9}, {"total", 5.6}}}};
  return report;
}

// The same report in schema lvlm-probe/report/2: outcomes with confidences, overall and per token;
// `critical` / `mutation` < 0 make them null (undetermined / absent) everywhere, and the segments
// hold the determined stages only.
inline Json report_v2(Json report, int critical, int mutation, double c_conf = 0.9, double m_conf = 0.8) {
  const int L = report["model"]["num_layers"].get<int>();
  auto layer = [](int v) { return v < 0 ? Json(nullptr) : Json(v); };
  Json segments = Json::array();
  if (critical >= 0) {
    const int m = mutation < 0 ? L + 1 : mutation;
    segments.push_back({{"name", "rapid_evolution"}, {"first_layer", 1}, {"last_layer", critical}});
    if (m > critical + 1) segments.push_back({{"name", "stabilization"}, {"first_layer", critical + 1}, {"last_layer", m - 1}});
    if (m <= L) segments.push_back({{"name", "mutation"}, {"first_layer", m}, {"last_layer", L}});
  }
  report["schema"] = "lvlm-probe/report/2";
  Json& st = report["stages"];
  st.erase("confidence");
  st["critical_layer"] = layer(critical);
  st["critical_confidence"] = c_conf;
  st["mutation_layer"] = critical < 0 ? Json(nullptr) : layer(mutation);
  st["mutation_confidence"] = m_conf;
  st["final_norm_step"] = nullptr;
  st["segments"] = segments;
  for (Json& t : report["tokens"]) {
    if (critical < 0) t["critical_layer"] = nullptr;
    if (critical < 0 || mutation < 0) t["mutation_layer"] = nullptr;
    t["critical_confidence"] = c_conf;
    t["mutation_confidence"] = m_conf;
  }
  for (Json& l : report["layers"]) {
    const int i = l["layer"].get<int>();
    const int m = mutation < 0 ? L + 1 : mutation;
    l["stage"] = i == 0 ? "embedding" : critical < 0 ? "undetermined" : i <= critical ? "rapid_evolution"
                                                     : i < m ? "stabilization" : "mutation";
  }
  return report;
}

// A summary (draft schema lvlm-probe/summary/1) over `items` images of an L-layer model.
inline Json synthetic_summary(int items, int L, int c, int m, uint64_t seed = 2) {
  const Json report = synthetic_report(12, L, c, m, seed);
  Json crit = Json::array(), mut = Json::array(), cos = Json::array(), points = Json::array();
  for (int l = 0; l <= L; ++l) {
    crit.push_back(l == c ? items * 3 : std::abs(l - c) == 1 ? items : 0);
    mut.push_back(l == m ? items * 2 : std::abs(l - m) <= 2 && l <= L && l > c ? items / 2 : 0);
    cos.push_back({{"layer", l}, {"mean_pairwise_cosine", 0.95 - 0.6 * l / L}});
  }
  Lcg rng(seed);
  for (int i = 0; i < items; ++i)
    for (int l = 0; l <= L; ++l) {
      const double spread = 0.2 + 3.0 * l / L, angle = 6.2832 * i / items;
      points.push_back({{"item", "AMBER_" + std::to_string(i + 1)}, {"layer", l},
                        {"x", l * 0.8 + spread * std::cos(angle) + rng.uniform()},
                        {"y", spread * std::sin(angle) + rng.uniform()}});
    }
  return {{"schema", "lvlm-probe/summary/1"},
          {"tool", report["tool"]},
          {"runs", {"runs/amber-0", "runs/amber-1"}},
          {"items", {{"total", items + 1}, {"ok", items}, {"failed", 1}}},
          {"model", report["model"]},
          {"settings", report["settings"]},
          {"layers", report["layers"]},
          {"stages", report["stages"]},
          {"histograms", {{"critical_layer", crit}, {"mutation_layer", mut}}},
          {"features", {{"step", 0}, {"layers", cos}, {"embedding", {{"method", "tsne"}, {"points", points}}}}}};
}

}  // namespace lvlm::test
