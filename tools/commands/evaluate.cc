// `lvlm-probe evaluate`: AMBER's metrics over batch run directories and the object words linked to
// the layers (schema lvlm-probe/eval/1, docs/amber.md), optionally with its HTML page.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/amber.h"

namespace lvlm::cli {
namespace {

std::string figure(const OrderedJson& v) { return v.is_number() ? fmt::format("{:.1f}", v.get<double>()) : "n/a"; }

void log_figures(const OrderedJson& eval) {
  const auto& items = eval["items"];
  spdlog::info("{} items evaluated ({} generative, {} discriminative), {} failed in the batch",
               items["ok"].get<size_t>(), items["generative"].get<size_t>(), items["discriminative"].get<size_t>(),
               items["failed"].get<size_t>());
  if (const auto& g = eval["generative"]; g.is_object())
    spdlog::info("generative: CHAIR {}, Cover {}, Hal {}, Cog {}", figure(g["chair"]), figure(g["cover"]),
                 figure(g["hal"]), figure(g["cog"]));
  if (const auto& d = eval["discriminative"]; d.is_object())
    spdlog::info("discriminative: accuracy {}, precision {}, recall {}, F1 {} ({} of {} answers neither yes nor no)",
                 figure(d["all"]["accuracy"]), figure(d["all"]["precision"]), figure(d["all"]["recall"]),
                 figure(d["all"]["f1"]), d["all"]["unparsed"].get<size_t>(), d["all"]["answers"].get<size_t>());
  const auto& groups = eval["groups"];
  spdlog::info("object words linked to the layers: {} grounded, {} hallucinated",
               groups["grounded"]["mentions"].get<size_t>(), groups["hallucinated"]["mentions"].get<size_t>());
}

}  // namespace

void add_evaluate(CLI::App& app, Action& action) {
  struct Flags {
    EvaluateOptions options;
    std::string out = "eval.json", html;
  };
  auto f = std::make_shared<Flags>();
  EvaluateOptions& o = f->options;
  CLI::App* sub = app.add_subcommand(
      "evaluate", "AMBER's metrics (CHAIR, Cover, Hal, Cog, yes/no accuracy) of batch runs, object words traced "
                  "through the layers");
  add_run_dirs_option(sub, "run_dirs", o.run_dirs, "run directories written by lvlm-probe batch --dataset amber")
      ->required();
  add_input_dir_option(sub, "--amber", o.amber_dir,
                       "AMBER's data directory: annotations.json, relation.json, safe_words.txt")
      ->required();
  add_input_dir_option(sub, "--wordnet", o.wordnet_dir,
                       "WordNet's database directory with index.noun and noun.exc (Debian: wordnet-base)")
      ->capture_default_str();
  add_output_option(sub, "--out", f->out, "the evaluation (JSON); - for stdout")->capture_default_str();
  add_output_option(sub, "--html", f->html, "also write the evaluation's HTML page");
  sub->callback([&action, f] {
    action = [f] {
      const OrderedJson eval = evaluate_amber(f->options);
      write_file_atomic(f->out, dump_json(eval));
      log_figures(eval);
      log_written("evaluation", f->out);
      if (!f->html.empty()) write_html(f->html, Json::parse(eval.dump()));
      return 0;
    };
  });
}

}  // namespace lvlm::cli
