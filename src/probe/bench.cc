// `bench` (docs/performance.md): plain greedy generation against the full probe on the same input. Every
// (thread count, repeat, mode) runs in a forked child: its load is timed from a cold start of the
// model (the page cache stays warm), its peak RSS is its own (wait4), and libtorch's and OpenBLAS's
// thread pools are sized before either creates a thread.
#include "lvlm_probe/bench.h"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/report.h"
#include "lvlm_probe/stopwatch.h"
#include "lvlm_probe/threads.h"
#include "../models/llava/config.h"
#include "floors.h"

namespace lvlm {
namespace {

ProbeTiming timing_from(const Json& j) {
  ProbeTiming t;
  t.load = j["load"], t.vision = j["vision"], t.prefill = j["prefill"];
  t.decode = j["decode"], t.lens = j["lens"], t.total = j["total"];
  return t;
}

// One load and one run, in the child. The probe also builds and serialises its report, which is
// part of what `run` costs; plain generation stops at the token ids.
Json measure_once(const BenchOptions& o, const std::string& mode, int threads) {
  const Stopwatch clock;
  SessionOptions session = o.session;
  session.device.threads = threads;
  ProbeSession s(session);
  ProbeRequest request = o.request;
  request.stop_at_eos = false;
  ProbeResult r = mode == "plain" ? s.generate(request) : s.run(request);
  if (mode == "probe") dump_json(build_report(r));
  r.timing.total = clock.seconds();
  const ModelInfo& m = r.model;
  return {{"timing", timing_json(r.timing)}, {"token_ids", r.token_ids}, {"sequence_length", r.sequence_length},
          {"model", {{"path", m.path}, {"family", m.family}, {"num_layers", m.num_layers}, {"hidden_size", m.hidden_size},
                     {"vocab_size", m.vocab_size}, {"weights_dtype", m.weights_dtype},
                     {"compute_dtype", m.compute_dtype}, {"device", m.device}}}};
}

void write_all(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Runs `work` in a child process; returns its JSON and the child's peak RSS. A library error in
// the child is rethrown here with its exit code.
Json in_child(const std::function<Json()>& work, uint64_t* peak_rss) {
  int fds[2];
  if (::pipe(fds) != 0) throw RuntimeFailure(std::string("bench: pipe failed: ") + std::strerror(errno));
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t pid = ::fork();
  if (pid < 0) throw RuntimeFailure(std::string("bench: fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    Json out;
    try {
      out = work();
    } catch (const Error& e) {
      out = {{"error", e.what()}, {"code", static_cast<int>(e.code())}};
    } catch (const std::exception& e) {
      std::string what = e.what();
      out = {{"error", what.substr(0, what.find('\n'))}, {"code", static_cast<int>(ExitCode::runtime)}};
    }
    write_all(fds[1], out.dump());
    ::_exit(0);  // no atexit handlers, no flushing the parent's buffers again
  }
  ::close(fds[1]);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  struct rusage usage {};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {}
  if (WIFSIGNALED(status))
    throw RuntimeFailure("bench: the measuring process died with signal " + std::to_string(WTERMSIG(status)) +
                         (WTERMSIG(status) == SIGKILL ? " (out of memory?)" : ""));
  Json out = parse_json(text, "bench child");
  if (out.contains("error")) throw Error(static_cast<ExitCode>(out["code"].get<int>()), out["error"].get<std::string>());
  *peak_rss = static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
  return out;
}

BenchRun summarize(const std::string& mode, int threads, const std::vector<Json>& samples,
                   const std::vector<uint64_t>& rss) {
  BenchRun run;
  run.mode = mode;
  run.threads = threads;
  for (const auto& s : samples) run.samples.push_back(timing_from(s["timing"]));
  auto med = [&](double ProbeTiming::*field) {
    std::vector<double> v;
    for (const auto& t : run.samples) v.push_back(t.*field);
    return summarize_values(v).median;
  };
  run.timing = {med(&ProbeTiming::load), med(&ProbeTiming::vision), med(&ProbeTiming::prefill),
                med(&ProbeTiming::decode), med(&ProbeTiming::lens), med(&ProbeTiming::total)};
  std::vector<double> r(rss.begin(), rss.end());
  run.peak_rss_bytes = static_cast<uint64_t>(summarize_values(r).median);
  run.new_tokens = static_cast<int>(samples.front()["token_ids"].size());
  run.sequence_length = samples.front()["sequence_length"];
  run.token_ids = samples.front()["token_ids"].get<std::vector<int>>();
  const double generation = run.timing.prefill + run.timing.decode;
  run.tokens_per_second = generation > 0 ? run.new_tokens / generation : 0;
  run.decode_tokens_per_second = run.timing.decode > 0 ? (run.new_tokens - 1) / run.timing.decode : 0;
  return run;
}

ModelInfo model_from(const Json& j) {
  ModelInfo m;
  m.family = j["family"];
  m.path = j["path"], m.num_layers = j["num_layers"], m.hidden_size = j["hidden_size"];
  m.vocab_size = j["vocab_size"], m.weights_dtype = j["weights_dtype"];
  m.compute_dtype = j["compute_dtype"], m.device = j["device"];
  return m;
}

std::string load_average() {
  try {
    std::string s = read_file("/proc/loadavg");
    return s.substr(0, s.find(' ', s.find(' ', s.find(' ') + 1) + 1));  // the 1, 5 and 15 minute figures
  } catch (const Error&) {
    return "";
  }
}

// --busy-cores: processes that spin for the whole benchmark, standing in for other work on a shared
// machine (docs/performance.md, "Threads"). Each dies with the bench, even a killed one.
class BusyCores {
 public:
  explicit BusyCores(int n) {
    const pid_t parent = ::getpid();
    for (int i = 0; i < n; ++i) {
      const pid_t pid = ::fork();
      if (pid < 0) throw RuntimeFailure(std::string("bench: fork failed: ") + std::strerror(errno));
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(0);
        for (volatile uint64_t spin = 0;; ++spin) {}
      }
      pids_.push_back(pid);
    }
  }
  ~BusyCores() {
    for (pid_t pid : pids_) ::kill(pid, SIGKILL);
    for (pid_t pid : pids_)
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
  }
  BusyCores(const BusyCores&) = delete;
  BusyCores& operator=(const BusyCores&) = delete;

 private:
  std::vector<pid_t> pids_;
};

// The thread counts to measure: 0 becomes the default count, each count once, in order.
std::vector<int> resolve_thread_counts(const std::vector<int>& asked, int usable) {
  std::vector<int> out;
  for (int t : asked) {
    const int n = resolve_thread_count(t, usable);
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

Json floors_json(const MachineFloors& f) {
  return {{"threads", f.threads}, {"gemm_f32", f.gemm_f32}, {"gemm_bf16", f.gemm_bf16}, {"memory", f.memory}};
}

MachineFloors floors_from(const Json& j) {
  MachineFloors f;
  f.threads = j["threads"], f.gemm_f32 = j["gemm_f32"], f.gemm_bf16 = j["gemm_bf16"], f.memory = j["memory"];
  return f;
}

// The floors in a child of their own (thread pools sized before any is created, 1 GiB freed after).
MachineFloors measure_floors_apart(int threads) {
  const std::string load = load_average();
  uint64_t peak = 0;
  MachineFloors f = floors_from(in_child([&] { return floors_json(measure_floors(threads)); }, &peak));
  f.load_average = load;
  spdlog::info("bench: floors at {} thread(s): GEMM f32 {:.3f}, bf16 {:.3f} TFLOP/s, memory {:.1f} GB/s", f.threads,
               f.gemm_f32 / 1e12, f.gemm_bf16 / 1e12, f.memory / 1e9);
  return f;
}

// Vision, prefill and decoding from plain generation (the model's own work), the lens from the
// probe; per step: decoding's new_tokens - 1 forward passes, the lens's new_tokens statistics.
FloorReport floor_report(const MachineFloors& machine, const LlavaConfig& config, const std::string& dtype,
                         const BenchRun& plain, const BenchRun& probe) {
  const bool reduced = dtype != "f32";
  const ModelWork work = model_work(config, plain.sequence_length, plain.new_tokens, reduced ? 2 : 4);
  const double decode_step = plain.new_tokens > 1 ? plain.timing.decode / (plain.new_tokens - 1) : 0;
  const double lens_step = probe.new_tokens > 0 ? probe.timing.lens / probe.new_tokens : 0;
  FloorReport r;
  r.machine = machine;
  auto add = [&](const char* phase, double seconds, const PhaseWork& w) {
    r.phases.push_back({phase, seconds, floor_seconds(w, machine, reduced)});
  };
  add("vision", plain.timing.vision, work.vision);
  add("prefill", plain.timing.prefill, work.prefill);
  if (decode_step > 0) add("decode_step", decode_step, work.decode_step);
  add("lens_step", lens_step, work.lens_step);
  r.lens_share = decode_step > 0 ? lens_step / decode_step : 0;
  return r;
}

}  // namespace

BenchResult run_bench(const BenchOptions& o) {
  if (o.repeat < 1) throw UsageError("--repeat must be at least 1");
  if (o.threads.empty()) throw UsageError("bench: no thread counts given");
  if (o.busy_cores < 0) throw UsageError("--busy-cores must be 0 or positive");
  BenchResult result;
  result.usable_cores = usable_cores();
  result.busy_cores = o.busy_cores;
  result.repeat = o.repeat;
  result.max_new_tokens = o.request.max_new_tokens;
  result.load_average = load_average();
  for (const auto& [dtype, bytes] : WeightStore::open(o.session.model_dir).bytes_by_dtype()) result.weights_bytes += bytes;
  BusyCores busy(o.busy_cores);
  for (int threads : resolve_thread_counts(o.threads, result.usable_cores)) {
    const MachineFloors machine = o.floor ? measure_floors_apart(threads) : MachineFloors{};
    std::map<std::string, std::vector<Json>> samples;
    std::map<std::string, std::vector<uint64_t>> rss;
    for (int i = 0; i < o.repeat; ++i) {
      for (const std::string mode : {"plain", "probe"}) {  // interleaved, so drift hits both alike
        uint64_t peak = 0;
        samples[mode].push_back(in_child([&] { return measure_once(o, mode, threads); }, &peak));
        rss[mode].push_back(peak);
        spdlog::info("bench: {} thread(s), run {}/{}, {}: {:.3f} s", threads, i + 1, o.repeat, mode,
                     samples[mode].back()["timing"]["total"].get<double>());
      }
    }
    result.model = model_from(samples["plain"].front()["model"]);
    for (const std::string mode : {"plain", "probe"}) result.runs.push_back(summarize(mode, threads, samples[mode], rss[mode]));
    const BenchRun &plain = result.runs[result.runs.size() - 2], &probe = result.runs.back();
    if (probe.token_ids != plain.token_ids)
      spdlog::warn("bench: the probe's tokens differ from plain generation's at {} thread(s)", threads);
    if (o.floor && result.model.family != "llava")
      spdlog::warn("bench --floor: the work of each phase is known for LLaVA models only; no ratios for a {} model",
                   result.model.family);
    else if (o.floor)
      result.floors.push_back(floor_report(machine, load_llava_config(o.session.model_dir), result.model.compute_dtype,
                                           plain, probe));
  }
  result.load_average_end = load_average();
  return result;
}

}  // namespace lvlm
