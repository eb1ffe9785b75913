// `lvlm-probe bench`: plain greedy generation against the full probe, at 1 thread and the default
// count (every core of the affinity mask) unless --threads picks one.
#include <iostream>

#include "commands.h"
#include "lvlm_probe/bench.h"
#include "probe_flags.h"

namespace lvlm::cli {

void add_bench(CLI::App& app, Action& action) {
  auto f = std::make_shared<ProbeFlags>();
  auto o = std::make_shared<BenchOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("bench", "time plain greedy generation against the full probe (EOS ignored)");
  sub->add_option("--model", f->session.model_dir, "Hugging Face model directory")->required();
  sub->add_option("--image", f->request.image, "image file");
  auto* prompt = sub->add_option("--prompt", f->request.prompt, "the question; put into --template");
  auto* ids = sub->add_option("--input-ids", f->input_ids, "explicit prompt ids, e.g. 1,2,3 (instead of --prompt)");
  prompt->excludes(ids);
  sub->add_option("--repeat", o->repeat, "runs per mode and thread count (medians are reported)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  sub->add_option("--busy-cores", o->busy_cores, "keep N cores busy with spinning processes while measuring, "
                                                 "as other work on a shared machine would")
      ->capture_default_str()->check(CLI::Range(0, 1024));
  sub->add_flag("--floor", o->floor, "also measure this machine's GEMM peak (f32, bf16) and memory bandwidth, and "
                                     "give each phase as a ratio to its floor");
  sub->add_flag("--json", *json, "print JSON instead of a table");
  add_probe_flags(*sub, *f);  // its --threads picks one count; without it bench runs 1 and the default
  sub->callback([&action, f, o, json, sub] {
    action = [f, o, json, sub] {
      if (f->request.prompt.empty() && f->input_ids.empty()) throw UsageError("bench: give --prompt or --input-ids");
      finish_probe_flags(*f);
      o->session = f->session;
      o->request = f->request;
      if (sub->get_option("--threads")->count() > 0) o->threads = {f->session.device.threads};
      BenchResult r = run_bench(*o);
      std::cout << (*json ? dump_json(bench_json(r)) + "\n" : bench_table(r)) << std::flush;
      return 0;
    };
  });
}

}  // namespace lvlm::cli
