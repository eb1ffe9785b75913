// Analysis of what the lens measured. Torch-free: plain numbers in, plain numbers out; the report
// module turns them into JSON. One section per analysis:
// - per-model stage configs (configs/<model>.json) for `--stages fixed`;
// - stage boundaries (critical and mutation layer) from the adjacent-layer divergences, per token
//   and over all tokens; the algorithm is in docs/stages.md.
// Further analyses (aggregation over tokens and runs, regression checks) get sections of their own.
//
// Layers (docs/report-schema.md): layer 0 is the embedding output, layers 1..L the decoder blocks'
// outputs. A divergence matrix is tokens x L: row t, column l-1 holds d_l = JS(P_{l-1}, P_l).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lvlm {

// ---------------------------------------------------------------------------------------------
// Per-model stage defaults (configs/<model>.json) for `--stages fixed`.

inline constexpr const char* kStageConfigSchema = "lvlm-probe/stage-config/1";

struct StageConfig {
  std::string path;          // the file it was read from, for messages
  std::string model;         // e.g. "llava-1.5-7b"
  std::string family;        // ModelInfo::family it applies to, e.g. "llava"
  int num_layers = 0;        // L of the model the values were measured on
  int hidden_size = 0;       // with family and num_layers, identifies the model
  int critical_layer = 0;    // 1..L-1
  int window_first = 0;      // mutation window [first, last], critical_layer < first <= last <= L
  int window_last = 0;
  bool estimate = false;     // true: not a published value (see `source`)
  std::string source;        // where the numbers come from
};

// Reads and checks one file; InputError "<path>: ..." naming the key on any problem.
StageConfig load_stage_config(const std::string& path);

// The config in `dir` (every *.json, read in name order) whose family, num_layers and hidden_size
// match the model; nullopt when none does. InputError when a file is broken or two files match.
std::optional<StageConfig> find_stage_config(const std::string& dir, const std::string& family, int num_layers,
                                             int hidden_size);

// ---------------------------------------------------------------------------------------------
// Stage boundaries (docs/stages.md).

struct StageOptions {
  // automatic: the critical layer is fitted to the data. fixed: it is given (the authors' setup:
  // 18 for LLaVA-1.5-7B) and only the mutation layer is searched.
  enum class Method { automatic, fixed };
  Method method = Method::automatic;
  // fixed only. 0 = take it from `config`.
  int critical_layer = 0;
  // fixed only: the mutation layer is the argmax of d over [window_first, window_last].
  // 0 = default: (c, L], or the config's window when c comes from the config.
  int window_first = 0, window_last = 0;
  // fixed only: the model's defaults; must have been made for the same number of layers.
  std::optional<StageConfig> config;
  // The lens applies the final norm at layer L only (`--lens hf`), so d_L measures the norm, not
  // the model. Layer L is then left out of the fit and the mutation search and reported as
  // StageResult::final_norm_step, unless `search_final_norm_step` (--final-norm-step include).
  bool final_norm_step = false;
  bool search_final_norm_step = false;
};

const char* stage_method_name(StageOptions::Method method);  // "auto" | "fixed"
StageOptions::Method parse_stage_method(const std::string& name);  // UsageError naming --stages

// The CLI's --stages, --critical-layer and --stage-config as options; loads the config file.
// UsageError for flags that do not go together (e.g. --critical-layer with --stages auto).
// With fixed and neither a layer nor a file, `config` stays empty: the caller, who knows the
// model, fills it from find_stage_config() (detect_stages refuses otherwise).
StageOptions stage_options_from_flags(const std::string& method, int critical_layer, const std::string& config_path);

// Confidences at or above this are decisions: below it the critical layer is undetermined and
// the mutation layer absent (docs/stages.md, "Confidence").
inline constexpr double kStageDecision = 0.5;

// The outcome of one curve (the aggregate, or one token's row). docs/stages.md defines both
// confidences; both are in [0, 1] and 1 on noiseless curves whose structure is exact.
struct TokenStages {
  std::optional<int> critical_layer;  // c; nullopt = undetermined (no knee stands out of the noise)
  std::optional<int> mutation_layer;  // m; nullopt = absent (no jump after the plateau above its noise)
  double critical_confidence = 0;     // how much a knee beats a single trend, against the noise
  double mutation_confidence = 0;     // how far the largest divergence after c stands above the plateau
  int critical_candidate = 0;         // the best-fitting knee, also when undetermined (0: none)
  int mutation_candidate = 0;         // the largest divergence after the candidate knee (0: none)
};

// A stage's layers [first_layer, last_layer]. Only stabilization can be empty (m = c + 1); it is
// then [c+1, c], i.e. last_layer = first_layer - 1 and size() == 0.
struct StageSegment {
  std::string name;  // "rapid_evolution" | "stabilization" | "mutation"
  int first_layer = 0, last_layer = 0;
  int size() const { return last_layer >= first_layer ? last_layer - first_layer + 1 : 0; }
};

// `--lens hf`: the divergence at layer L, left out of the mutation search.
struct FinalNormStep {
  int layer = 0;
  double divergence = 0;  // of the aggregate curve
  std::string note;
};

struct StageResult {
  std::string method;                 // "auto" | "fixed"
  int num_layers = 0;                 // L
  TokenStages overall;                // c, m and their confidences on the aggregate curve
  int window_first = 0, window_last = 0;  // where m was searched; auto: (c, L]; 0 without a c
  std::optional<int> critical_layer_mode;  // most frequent determined c_t (smallest on ties)
  std::optional<int> mutation_layer_mode;  // most frequent present m_t (smallest on ties)
  std::string config;                     // fixed: the file c came from, "" otherwise
  // Only the determined stages, in layer order: none without c; rapid evolution and
  // stabilization [c+1, L] when m is absent; all three otherwise.
  std::vector<StageSegment> segments;
  std::vector<TokenStages> per_token;     // one per row of the input
  std::vector<double> aggregate_curve;    // per-layer median of d over tokens, L values (layer 1..L)
  double noise = 0;                       // per-token noise of log d from the token spread (0: < 3 tokens)
  std::optional<FinalNormStep> final_norm_step;

  const std::optional<int>& critical_layer() const { return overall.critical_layer; }
  const std::optional<int>& mutation_layer() const { return overall.mutation_layer; }
};

// `divergences`: tokens x L, every value finite and >= 0 (InputError otherwise, naming the token
// and layer); tokens may come from several images. UsageError for options that do not fit L.
// Deterministic; multiplying all values by a positive constant changes nothing.
StageResult detect_stages(const std::vector<std::vector<double>>& divergences, const StageOptions& options);

// One line for logs: "critical layer 18 (confidence 0.97), mutation layer 28 (confidence 0.91)
// of 32 layers (auto)", with "undetermined" / "absent" in place of a layer.
std::string stage_summary(const StageResult& result);

// The layers of the stabilization stage ([c+1, m-1], or [c+1, L] when m is absent); empty when c
// is undetermined or stabilization is empty. What `--skip stabilization` skips.
std::vector<int> stabilization_layers(const StageResult& result);

// "embedding" for layer 0, else the name of the segment holding `layer`, or "undetermined" when c
// is. UsageError outside 0..L.
std::string stage_of_layer(const StageResult& result, int layer);

// ---------------------------------------------------------------------------------------------
// Aggregation over the tokens of many items (`lvlm-probe aggregate`, docs/batch.md).

// Mean, quartiles (linear interpolation, numpy's default) and extremes of the finite values.
struct ValueSummary {
  double mean = 0, median = 0, q1 = 0, q3 = 0, min = 0, max = 0;
  size_t count = 0;  // finite values summarised; 0 = none
};
ValueSummary summarize_values(std::vector<double> values);

// The per-layer arrays of a report's tokens[] entry that are aggregated, in this order.
inline constexpr int kNumTokenMetrics = 8;
inline constexpr const char* kTokenMetrics[kNumTokenMetrics] = {"p_token", "entropy", "d_prev",   "d_final",
                                                                "h_norm",  "cos_prev", "cos_final", "rank"};

// One generated token of one item.
struct TokenRecord {
  std::array<std::vector<double>, kNumTokenMetrics> metrics;  // L + 1 values each, NaN where null
  std::optional<int> critical_layer, mutation_layer;           // the token's own, from its report
};

struct LayerAggregate {
  int layer = 0;
  std::string stage;                                     // stage_of_layer() of the pooled stages
  std::array<ValueSummary, kNumTokenMetrics> metrics;    // over every token of every item
};

struct TokenAggregate {
  std::vector<LayerAggregate> layers;       // layers 0..L
  StageResult stages;                        // detect_stages() on all tokens' d_prev rows
  std::vector<int64_t> critical_histogram;  // L + 1 counts: tokens whose own c is that layer
  std::vector<int64_t> mutation_histogram;  // the same for m
  int64_t critical_undetermined = 0;        // tokens without a c
  int64_t mutation_absent = 0;              // tokens without an m
};

// InputError when there are no tokens or a token's arrays do not hold L + 1 values.
TokenAggregate aggregate_tokens(const std::vector<TokenRecord>& tokens, int num_layers, const StageOptions& options);

// Mean cosine similarity over all pairs of vectors, fed one vector at a time in O(dim) memory:
// for unit vectors u_i, sum_{i<j} u_i.u_j = (|sum_i u_i|^2 - n) / 2. Zero vectors have no
// direction and are left out.
class PairwiseCosine {
 public:
  explicit PairwiseCosine(size_t dim) : sum_(dim, 0.0) {}
  void add(const float* vector);
  size_t count() const { return count_; }
  double mean() const;  // NaN with fewer than 2 vectors

 private:
  std::vector<double> sum_;
  size_t count_ = 0;
};

// 2-D embeddings of feature vectors for plots (docs/figures.md).
enum class EmbeddingMethod { tsne, pca };
const char* embedding_method_name(EmbeddingMethod method);      // "tsne" | "pca"
EmbeddingMethod parse_embedding_method(const std::string& name);  // UsageError naming --embedding

struct EmbeddingOptions {
  EmbeddingMethod method = EmbeddingMethod::tsne;
  double perplexity = 30;  // t-SNE; clipped to [1, (n - 1) / 3] for n points
  uint64_t seed = 0;       // t-SNE's initial layout, PCA's start vectors
  int iterations = 1000;   // t-SNE gradient steps (the first 250 with early exaggeration)
};

// How a report page's per-image t-SNE (every generated token at every layer) is made and coloured:
// `stages`: layers 0..L scaled to unit length, coloured by the detected stages; `paper`: as the
// authors' tsne.py / combined_tsne.py, layers 1..L through scikit-learn's MaxAbsScaler (each
// feature divided by its largest magnitude), perplexity 40, 2000 steps, fixed layer groups.
enum class TokenEmbeddingStyle { stages, paper };
const char* token_embedding_style_name(TokenEmbeddingStyle style);        // "stages" | "paper"
TokenEmbeddingStyle parse_token_embedding_style(const std::string& name);  // UsageError naming --tsne

struct Embedding {
  std::vector<std::array<double, 2>> points;  // one per input row
  double perplexity = 0;                      // t-SNE: the perplexity used, after clipping
  double kl_divergence = 0;                   // t-SNE: KL(P || Q) of the final layout
  std::array<double, 2> variance = {0, 0};    // PCA: variance along each axis
};

// `data`: n rows of `dim` values, row-major. Exact t-SNE (van der Maaten & Hinton 2008, O(n^2)
// time and memory) or PCA. Deterministic: the same input and seed give the same bits.
Embedding embed_2d(const std::vector<float>& data, size_t dim, const EmbeddingOptions& options);

// The first k principal axes of the rows (unit vectors, largest-magnitude component positive)
// and the variance along each, by subspace iteration on the centred data (no dim x dim matrix).
struct PrincipalAxes {
  std::vector<std::vector<double>> axes;
  std::vector<double> variances;
};
PrincipalAxes principal_axes(const std::vector<float>& data, size_t dim, int k, uint64_t seed);

}  // namespace lvlm
