// `lvlm-probe batch`: probe every item of a data set into a run directory (docs/batch.md). The
// model is loaded once; SIGINT/SIGTERM finish the item in flight and stop cleanly (a second one
// stops at once); the same command again resumes.
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/batch.h"
#include "probe_flags.h"

namespace lvlm::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop = sig;
  // SA_RESETHAND restored the default action: a second signal ends the process at once.
  const char msg[] = "\nlvlm-probe batch: stopping after the item in flight (signal again to stop now)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct BatchFlags {
  ProbeFlags probe;
  BatchOptions batch;
  std::string dataset = "amber", shard = "0/1", feature_steps = "0";
};

}  // namespace

void add_batch(CLI::App& app, Action& action) {
  auto f = std::make_shared<BatchFlags>();
  DatasetOptions& d = f->batch.dataset;
  CLI::App* sub = app.add_subcommand("batch", "probe every item of a data set into a run directory (resumable)");
  sub->add_option("--model", f->probe.session.model_dir, "Hugging Face model directory")->required();
  sub->add_option("--dataset", f->dataset, "amber: AMBER query file; coco: COCO captions_/instances_*.json; "
                                           "jsonl: {id, image, prompt} lines; folder: a directory of images")
      ->capture_default_str()->check(CLI::IsMember({"amber", "coco", "jsonl", "folder"}));
  sub->add_option("--data", d.data, "the data-set file, or the folder of images")->required();
  sub->add_option("--images", d.images, "where image file names are looked up (default: the folder of --data)");
  sub->add_option("--prompt", d.prompt, "the question (coco, folder: required; jsonl: for lines without one)");
  sub->add_option("--out", f->batch.out_dir, "run directory (created; an existing one is resumed)")->required();
  sub->add_option("--limit", d.limit, "only the first N items (after --ids); 0 = all")->capture_default_str();
  sub->add_option("--ids", d.ids, "only these ids and integer ranges, e.g. 1,7,20-40");
  sub->add_option("--shard", f->shard, "I/N: items i with i mod N = I; auto: from the Slurm array variables")
      ->capture_default_str();
  sub->add_option("--feature-steps", f->feature_steps,
                  "generated steps whose hidden states [L+1, hidden] are kept for aggregate, e.g. 0,1; none")
      ->capture_default_str();
  sub->add_option("--feature-dtype", f->batch.feature_dtype, "f16 (f32 where f16 cannot hold a value) or f32")
      ->capture_default_str()->check(CLI::IsMember({"f16", "f32"}));
  sub->add_flag("--retry-failed", f->batch.retry_failed, "probe items recorded as failed again");
  sub->add_flag("--force", f->batch.force, "resume although run.json records other settings");
  sub->add_option("--log-interval", f->batch.log_interval, "seconds between progress lines when stderr is no terminal")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  add_probe_flags(*sub, f->probe);
  write_outputs_as_they_come(sub);
  sub->callback([&action, f] {
    action = [f] {
      install_stop_handlers();
      BatchOptions& o = f->batch;
      o.dataset.kind = parse_dataset_kind(f->dataset);
      o.shard = parse_shard(f->shard);
      o.feature_steps.clear();
      if (f->feature_steps != "none" && !f->feature_steps.empty())
        o.feature_steps = parse_int_list(f->feature_steps, "--feature-steps");
      finish_probe_flags(f->probe);
      o.session = f->probe.session;
      o.request = f->probe.request;
      // Bad data-set files and flags are reported before the model is loaded.
      const size_t total = load_dataset(o.dataset).size();
      if (total == 0) throw InputError(o.dataset.data, "no items (after --ids and --limit)");
      ProbeSession session(o.session);
      session.check(o.request);  // problems of the whole run stop here, before any item
      // run.json names the template the prompts really went through, as the reports do, so a run
      // resumed with that name given explicitly (or without it) keeps its settings.
      if (o.request.input_ids.empty()) o.request.template_name = session.template_for(o.request);
      const BatchOutcome r = run_batch(o, [&session](const ProbeRequest& req) { return session.run(req); }, &g_stop);
      spdlog::info("shard {}: {} probed now ({} failed), {} finished earlier, {} failed in all; index {}",
                   o.shard.text(), r.ok + r.failed, r.failed, r.already_done, r.failed_total, r.index_file);
      if (r.stopped_by) {
        spdlog::warn("stopped by {} after the item in flight; {} items remain: run the same command to resume",
                     r.stopped_by == SIGINT ? "SIGINT" : r.stopped_by == SIGTERM ? "SIGTERM" : "a signal", r.remaining);
        return 128 + r.stopped_by;
      }
      if (r.failed_total > 0) {
        spdlog::error("{} of {} items failed (reasons in {}; --retry-failed probes them again)", r.failed_total,
                      r.items, r.index_file);
        return static_cast<int>(ExitCode::bad_input);
      }
      return 0;
    };
  });
}

}  // namespace lvlm::cli
