// HTML figures for a report (schema lvlm-probe/report/1) or a batch summary
// (lvlm-probe/summary/1): one self-contained page, inline SVG and CSS, no script needed and no
// network access, so it opens offline in any browser and survives being mailed around.
//
// A report page shows the paper's views (Wang et al., CVPR 2025, arXiv 2504.02862): the
// adjacent-layer divergence heatmap (tokens x layers, absolute and per-layer normalised, with
// critical and mutation layers marked), the token-probability curves of one generated token,
// per-layer summary lines over shaded stage bands, and the top-k tokens per layer. A summary page
// shows the per-layer lines with quartile bands, histograms of per-token critical and mutation
// layers, and the 2-D feature embedding. docs/figures.md explains how to read each figure.
#pragma once

#include <string>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/json.h"

namespace lvlm {

struct RenderOptions {
  // Generated token (step) whose probability curves and top-k table are drawn; -1 = the token
  // with the largest divergence at its own mutation layer (step 0 when nothing stands out).
  int focus_step = -1;
  // Above these, heatmap rows (tokens) and columns (layers) are averaged in equal bins so the
  // page stays light (element count and size bounded); the page says when it did so.
  int max_rows = 400, max_columns = 100;
  // The report's --dump-features file: adds the per-image t-SNE of every generated token's hidden
  // state at every layer (the paper's tsne.py), made as `tsne` says. "" = no t-SNE.
  std::string features;
  TokenEmbeddingStyle tsne = TokenEmbeddingStyle::stages;
  size_t tsne_max_points = 2000;  // exact t-SNE is O(n^2): the first tokens up to this many points
};

// InputError when the report fails validate_report (wrong schema, missing keys).
std::string render_report_html(const Json& report, const RenderOptions& options = {});
// Tolerant of missing optional parts (features, histograms, quartiles); InputError on a wrong
// schema.
std::string render_summary_html(const Json& summary, const RenderOptions& options = {});
// The page of an AMBER evaluation (lvlm-probe/eval/1, amber.h); InputError on a wrong schema.
std::string render_eval_html(const Json& eval);
// Dispatches on "schema"; InputError on anything else.
std::string render_html(const Json& report_or_summary, const RenderOptions& options = {});

}  // namespace lvlm
