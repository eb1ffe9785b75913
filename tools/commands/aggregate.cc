// `lvlm-probe aggregate`: merge run directories into summary.json (schema lvlm-probe/summary/1,
// docs/batch.md) and optionally its HTML page.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/batch.h"
#include "lvlm_probe/report.h"

namespace lvlm::cli {

void add_aggregate(CLI::App& app, Action& action) {
  struct Flags {
    AggregateOptions options;
    std::string out = "summary.json", html, embedding = "tsne";
  };
  auto f = std::make_shared<Flags>();
  AggregateOptions& o = f->options;
  CLI::App* sub = app.add_subcommand("aggregate", "merge batch run directories into summary.json");
  add_run_dirs_option(sub, "run_dirs", o.run_dirs, "run directories written by lvlm-probe batch")->required();
  add_output_option(sub, "--out", f->out, "summary path; - for stdout")->capture_default_str();
  add_output_option(sub, "--html", f->html, "also write the summary's HTML page");
  sub->add_option("--feature-step", o.feature_step,
                  "generated step whose hidden states are compared across images; -1 = none")
      ->capture_default_str();
  sub->add_option("--embedding", f->embedding, "2-D embedding of those features: tsne (exact) or pca")
      ->capture_default_str()->check(CLI::IsMember({"tsne", "pca"}));
  sub->add_option("--perplexity", o.embedding.perplexity, "t-SNE perplexity (clipped to (n-1)/3)")->capture_default_str();
  sub->add_option("--iterations", o.embedding.iterations, "t-SNE iterations")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_option("--seed", o.embedding.seed, "seed of the embedding's start")->capture_default_str();
  sub->add_option("--max-points", o.max_points, "embedded points (images x layers); 0 = 3000 (t-SNE), 50000 (PCA)")
      ->capture_default_str();
  sub->callback([&action, f] {
    action = [f] {
      f->options.embedding.method = parse_embedding_method(f->embedding);
      const OrderedJson summary = aggregate_runs(f->options);
      write_file_atomic(f->out, dump_json(summary));
      const auto& items = summary["items"];
      const auto& stages = summary["stages"];
      spdlog::info("{} items ({} failed), {} tokens; critical layer {}, mutation layer {}",
                   items["ok"].get<size_t>(), items["failed"].get<size_t>(), items["tokens"].get<size_t>(),
                   stages["critical_layer"].dump(), stages["mutation_layer"].dump());
      log_written("summary", f->out);
      if (!f->html.empty()) write_html(f->html, Json::parse(summary.dump()));
      return 0;
    };
  });
}

}  // namespace lvlm::cli
