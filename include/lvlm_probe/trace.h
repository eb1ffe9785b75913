// What the lens measures for one generated token, layer by layer, as plain numbers. Torch-free:
// the lens fills it, analysis and reports read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lvlm {

enum class LensMode { norm, raw, hf };
enum class Divergence { jsd, dola };

const char* lens_mode_name(LensMode mode);        // "norm" | "raw" | "hf"
const char* divergence_name(Divergence measure);  // "jsd" | "dola"
LensMode parse_lens_mode(const std::string& name);            // UsageError on other names
Divergence parse_divergence(const std::string& name);

// Where the predicting position's attention goes in one decoder layer: per query head, the summed
// softmax weights on each group of key positions (docs/report-schema.md, `attention`). The four
// groups partition the keys, so per head they sum to 1.
struct AttentionShares {
  int layer = 0;                  // 1..L
  std::vector<double> bos;        // position 0 (the attention sink)
  std::vector<double> image;      // the image features' positions
  std::vector<double> prompt;     // the other prompt positions
  std::vector<double> generated;  // positions after the prompt (the query itself from step 1 on)
};

// One generated token. Every vector has L + 1 entries, index = layer (0 = embeddings).
struct TokenTrace {
  int step = 0;            // 0 = first generated token
  int64_t position = 0;    // the position whose output predicts the token
  int token_id = 0;
  std::vector<double> p_token;   // lens probability of the emitted token
  std::vector<int64_t> rank;     // 1-based rank of the emitted token (1 + #tokens more likely)
  std::vector<double> entropy;   // nats
  std::vector<double> d_prev;    // divergence to layer l-1 (index 0 unused: NaN, reported as null)
  std::vector<double> d_final;   // divergence to layer L
  std::vector<std::vector<int>> topk_ids;
  std::vector<std::vector<double>> topk_probs;
  std::vector<double> h_norm;     // ||h_l||_2 of the residual stream
  std::vector<double> cos_prev;   // cosine(h_{l-1}, h_l), index 0 NaN
  std::vector<double> cos_final;  // cosine(h_l, h_L)
  // Every token that is top-1 at some layer, in order of first appearance from layer 0, and its
  // lens probability at every layer: the complete curves of plot_token_probabilities_area.py
  // (not cut off where a token drops out of the top-k). competitor_probs[j][l], L + 1 per id.
  std::vector<int> competitor_ids;
  std::vector<std::vector<double>> competitor_probs;
  // With --attention: one entry per decoder layer 1..L that ran (skipped layers have none).
  std::vector<AttentionShares> attention;

  int num_layers() const { return static_cast<int>(p_token.size()) - 1; }
};

}  // namespace lvlm
