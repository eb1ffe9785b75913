// What `bench` prints: JSON for machines ("lvlm-probe/bench/1") and an aligned table for people,
// both with the overhead of the probe over plain generation at each thread count.
#include <cstdio>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/bench.h"

namespace lvlm {

OrderedJson timing_json(const ProbeTiming& t) {
  return {{"load", t.load}, {"vision", t.vision}, {"prefill", t.prefill},
          {"decode", t.decode}, {"lens", t.lens}, {"total", t.total}};
}

namespace {

struct Overhead {
  int threads = 0;
  double total = 0, generation = 0;  // probe / plain - 1 of the medians: end to end, prefill + decode
  // On a shared machine the noise is of the overhead's size, so two steadier readings of the
  // totals: the median of the ratios of runs made one after the other, and the fastest runs'.
  double paired = 0, best = 0;
  bool same_tokens = false;
};

std::vector<Overhead> overheads(const BenchResult& r) {
  std::vector<Overhead> out;
  for (size_t i = 0; i + 1 < r.runs.size(); i += 2) {
    const BenchRun &plain = r.runs[i], &probe = r.runs[i + 1];
    const double gp = plain.timing.prefill + plain.timing.decode, gq = probe.timing.prefill + probe.timing.decode;
    std::vector<double> ratios, plain_totals, probe_totals;
    for (size_t k = 0; k < plain.samples.size() && k < probe.samples.size(); ++k) {
      ratios.push_back(probe.samples[k].total / plain.samples[k].total);
      plain_totals.push_back(plain.samples[k].total);
      probe_totals.push_back(probe.samples[k].total);
    }
    out.push_back({plain.threads, probe.timing.total / plain.timing.total - 1, gq / gp - 1,
                   summarize_values(ratios).median - 1,
                   summarize_values(probe_totals).min / summarize_values(plain_totals).min - 1,
                   plain.token_ids == probe.token_ids});
  }
  return out;
}

// The probe's total at each thread count against its total at 1 thread: with busy cores, what
// sharing costs (docs/performance.md, "Threads").
std::string thread_scaling(const BenchResult& r) {
  const BenchRun* one = nullptr;
  for (const auto& run : r.runs)
    if (run.mode == "probe" && run.threads == 1) one = &run;
  std::string s;
  for (const auto& run : r.runs) {
    if (!one || run.mode != "probe" || run.threads == 1 || one->timing.total <= 0) continue;
    char line[160];
    std::snprintf(line, sizeof line, "the probe at %d threads takes %.2f x the time at 1 thread (%d busy cores)\n",
                  run.threads, run.timing.total / one->timing.total, r.busy_cores);
    s += line;
  }
  return s;
}

OrderedJson floors_json(const std::vector<FloorReport>& floors) {
  OrderedJson out = OrderedJson::array();
  for (const FloorReport& f : floors) {
    OrderedJson phases;
    for (const PhaseFloor& p : f.phases)
      phases[p.phase] = {{"seconds", p.seconds}, {"floor_seconds", p.floor}, {"ratio", p.floor > 0 ? p.seconds / p.floor : 0}};
    out.push_back({{"threads", f.machine.threads},
                   {"gemm_f32_flops", f.machine.gemm_f32},
                   {"gemm_bf16_flops", f.machine.gemm_bf16},
                   {"memory_bytes_per_second", f.machine.memory},
                   {"load_average", f.machine.load_average},
                   {"phases", phases},
                   {"lens_share_of_decode_step", f.lens_share}});
  }
  return out;
}

std::string floors_table(const std::vector<FloorReport>& floors) {
  std::string s;
  char line[256];
  for (const FloorReport& f : floors) {
    const MachineFloors& m = f.machine;
    std::snprintf(line, sizeof line, "\nfloors at %d thread(s), load average %s: GEMM f32 %.3f TFLOP/s, bf16 %.3f TFLOP/s; "
                  "memory read %.1f GB/s\n", m.threads, m.load_average.c_str(), m.gemm_f32 / 1e12, m.gemm_bf16 / 1e12,
                  m.memory / 1e9);
    s += line;
    s += "phase            measured        floor    ratio\n";
    for (const PhaseFloor& p : f.phases) {
      std::snprintf(line, sizeof line, "%-12s %10.2f ms %10.2f ms %7.2f x\n", p.phase.c_str(), 1e3 * p.seconds,
                    1e3 * p.floor, p.floor > 0 ? p.seconds / p.floor : 0.0);
      s += line;
    }
    std::snprintf(line, sizeof line, "lens step = %.1f %% of a decoding step\n", 100 * f.lens_share);
    s += line;
  }
  return s;
}

}  // namespace

OrderedJson bench_json(const BenchResult& r) {
  OrderedJson runs = OrderedJson::array();
  for (const auto& run : r.runs) {
    OrderedJson samples = OrderedJson::array();
    for (const auto& t : run.samples) samples.push_back(timing_json(t));
    runs.push_back({{"mode", run.mode}, {"threads", run.threads}, {"seconds", timing_json(run.timing)},
                    {"tokens_per_second", run.tokens_per_second},
                    {"decode_tokens_per_second", run.decode_tokens_per_second},
                    {"peak_rss_bytes", run.peak_rss_bytes}, {"new_tokens", run.new_tokens},
                    {"sequence_length", run.sequence_length}, {"samples", samples}});
  }
  OrderedJson over = OrderedJson::array();
  for (const auto& o : overheads(r))
    over.push_back({{"threads", o.threads}, {"total", o.total}, {"generation", o.generation}, {"paired", o.paired},
                    {"best", o.best}, {"same_tokens", o.same_tokens}});
  const ModelInfo& m = r.model;
  OrderedJson j = {{"schema", "lvlm-probe/bench/1"},
          {"model", {{"path", m.path}, {"num_layers", m.num_layers}, {"hidden_size", m.hidden_size},
                     {"vocab_size", m.vocab_size}, {"weights_dtype", m.weights_dtype}, {"weights_bytes", r.weights_bytes},
                     {"dtype", m.compute_dtype}, {"device", m.device}}},
          {"repeat", r.repeat}, {"max_new_tokens", r.max_new_tokens}, {"load_average", r.load_average},
          {"load_average_end", r.load_average_end}, {"usable_cores", r.usable_cores}, {"busy_cores", r.busy_cores},
          {"runs", runs}, {"overhead", over}};
  if (!r.floors.empty()) j["floors"] = floors_json(r.floors);
  return j;
}

std::string bench_table(const BenchResult& r) {
  const ModelInfo& m = r.model;
  const int64_t positions = r.runs.empty() ? 0 : r.runs.front().sequence_length;
  char line[512];
  std::string s;
  std::snprintf(line, sizeof line, "model    %s: %d layers, hidden %d, vocab %d; %s weights %.2f GiB; compute %s on %s\n",
                m.path.c_str(), m.num_layers, m.hidden_size, m.vocab_size, m.weights_dtype.c_str(),
                r.weights_bytes / double(1ull << 30), m.compute_dtype.c_str(), m.device.c_str());
  s += line;
  std::snprintf(line, sizeof line, "input    %lld prompt positions, %d new tokens (EOS ignored); medians of %d runs, "
                "each in a fresh process; load average before: %s\n",
                static_cast<long long>(positions), r.max_new_tokens, r.repeat, r.load_average.c_str());
  s += line;
  std::snprintf(line, sizeof line, "cores    %d usable (affinity mask), %d kept busy by spinning processes\n\n",
                r.usable_cores, r.busy_cores);
  s += line;
  s += "threads  mode     load  vision  prefill  decode    lens   total   tok/s  decode tok/s  peak RSS\n";
  for (const auto& run : r.runs) {
    const ProbeTiming& t = run.timing;
    char lens[16] = "      -";
    if (run.mode == "probe") std::snprintf(lens, sizeof lens, "%7.3f", t.lens);
    std::snprintf(line, sizeof line, "%7d  %-5s %7.3f %7.3f  %7.3f %7.3f %s %7.3f %7.1f  %12.1f  %5.2f GiB\n",
                  run.threads, run.mode.c_str(), t.load, t.vision, t.prefill, t.decode, lens, t.total,
                  run.tokens_per_second, run.decode_tokens_per_second, run.peak_rss_bytes / double(1ull << 30));
    s += line;
  }
  s += "\n";
  for (const auto& o : overheads(r)) {
    std::snprintf(line, sizeof line, "overhead of the probe at %d thread(s): %+.1f %% end to end, %+.1f %% in prefill + "
                  "decode; run by run %+.1f %%, fastest runs %+.1f %%%s\n", o.threads, 100 * o.total,
                  100 * o.generation, 100 * o.paired, 100 * o.best,
                  o.same_tokens ? "" : " (tokens differ from plain generation!)");
    s += line;
  }
  s += thread_scaling(r);
  s += floors_table(r.floors);
  return s;
}

}  // namespace lvlm
