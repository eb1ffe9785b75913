// `lvlm-probe batch` and `aggregate` as a user runs them, on the tiny model: resume, SIGKILL at
// random moments, SIGINT, failed items, shards into one run directory, and a summary that equals
// what the per-item reports imply.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/batch.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/report.h"
#include "test_util.h"

namespace lvlm {
namespace {

namespace fs = std::filesystem;
using test::data_path;
using test::run_cli;

// n items over the shared test photos (and the fixture image), different prompts; `bad` adds a
// missing and an undecodable image.
std::string write_items(const test::TempDir& dir, int n, bool bad = false) {
  const std::string photos[] = {"Animal1.jpg", "flower2.jpg", "fruit1.jpg", "sport2.jpg"};
  const std::string prompts[] = {"Describe this image.", "What is in the picture?", "Is there a dog?"};
  std::ofstream f(dir.file("items.jsonl"));
  for (int i = 0; i < n; ++i) {
    const std::string image = i % 5 == 4 ? data_path("tiny-llava/test.png") : data_path("images/photos/" + photos[i % 4]);
    f << Json{{"id", "item-" + std::to_string(i)}, {"image", image}, {"prompt", prompts[i % 3]}}.dump() << "\n";
  }
  if (bad) {
    std::ofstream(dir.file("garbage.png")) << "this is not a PNG";
    f << Json{{"id", "missing"}, {"image", dir.file("nope.png")}, {"prompt", "Q"}}.dump() << "\n";
    f << Json{{"id", "garbage"}, {"image", dir.file("garbage.png")}, {"prompt", "Q"}}.dump() << "\n";
  }
  return dir.file("items.jsonl");
}

std::string batch_args(const std::string& items, const std::string& out, const std::string& extra = "") {
  return "batch --model '" + test::tiny_model() + "' --dataset jsonl --data '" + items + "' --out '" + out +
         "' --max-new-tokens 4 --threads 1 " + extra;
}

// All index lines of a run directory, each parsed (a torn or corrupt line fails the test).
std::vector<Json> index_lines(const std::string& run) {
  std::vector<Json> out;
  for (const auto& entry : fs::directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("index", 0) != 0) continue;
    std::ifstream f(entry.path());
    std::string content((std::istreambuf_iterator<char>(f)), {});
    EXPECT_TRUE(content.empty() || content.back() == '\n') << name << " ends in a torn line";
    for (const Json& j : read_index_file(entry.path().string())) out.push_back(j);
  }
  return out;
}

std::map<std::string, int> count_ids(const std::vector<Json>& lines) {
  std::map<std::string, int> n;
  for (const auto& j : lines) ++n[j["id"].get<std::string>()];
  return n;
}

pid_t spawn(const std::string& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = "exec '" + std::string(LVLM_CLI) + "' " + args + " >/dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(BatchCli, ResumeSkipsFinishedItemsAndDuplicatesNothing) {
  test::TempDir dir;
  const std::string items = write_items(dir, 5), run = dir.file("run");
  auto r = run_cli(batch_args(items, run, "--limit 2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(index_lines(run).size(), 2u);
  const auto first_time = fs::last_write_time(run + "/reports/item-0.json");
  r = run_cli(batch_args(items, run));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("2 finished earlier, 3 to probe"), std::string::npos) << r.err;
  const auto lines = index_lines(run);
  ASSERT_EQ(lines.size(), 5u);
  for (const auto& [id, n] : count_ids(lines)) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(fs::last_write_time(run + "/reports/item-0.json"), first_time);  // not probed again
  r = run_cli(batch_args(items, run));  // nothing left
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(index_lines(run).size(), 5u);
  // Other settings are refused, naming the difference.
  r = run_cli(batch_args(items, run, "--lens raw"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("lens"), std::string::npos) << r.err;
}

TEST(BatchCli, FailedItemsAreRecordedAndTheRunGoesOn) {
  test::TempDir dir;
  const std::string items = write_items(dir, 2, true), run = dir.file("run");
  auto r = run_cli(batch_args(items, run, "--feature-steps none"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  auto lines = index_lines(run);
  ASSERT_EQ(lines.size(), 4u);
  std::map<std::string, Json> by_id;
  for (const auto& j : lines) by_id[j["id"]] = j;
  EXPECT_EQ(by_id["item-0"]["status"], "ok");
  EXPECT_EQ(by_id["item-1"]["status"], "ok");
  EXPECT_EQ(by_id["missing"]["status"], "failed");
  EXPECT_NE(by_id["missing"]["error"].get<std::string>().find("nope.png"), std::string::npos);
  EXPECT_EQ(by_id["garbage"]["status"], "failed");
  EXPECT_NE(by_id["garbage"]["error"].get<std::string>().find("garbage.png"), std::string::npos);
  EXPECT_FALSE(fs::exists(run + "/reports/missing.json"));
  r = run_cli(batch_args(items, run, "--feature-steps none"));  // failures are not retried by default
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(index_lines(run).size(), 4u);
  r = run_cli(batch_args(items, run, "--feature-steps none --retry-failed"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(index_lines(run).size(), 6u);
  // The summary lists the failures.
  r = run_cli("aggregate '" + run + "' --feature-step -1 --out '" + dir.file("s.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json s = read_json_file(dir.file("s.json"));
  EXPECT_EQ(s["items"]["ok"], 2);
  EXPECT_EQ(s["items"]["failed"], 2);
  EXPECT_EQ(s["items"]["failures"].size(), 2u);
}

TEST(BatchCli, SummaryCarriesTheSkippedRunsAgreement) {
  test::TempDir dir;
  const std::string items = write_items(dir, 3), run = dir.file("run");
  auto r = run_cli(batch_args(items, run, "--feature-steps none --skip-layers 2-3"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli("aggregate '" + run + "' --feature-step -1 --out '" + dir.file("s.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json skip = read_json_file(dir.file("s.json"))["skip"];
  ASSERT_TRUE(skip.is_object());
  EXPECT_EQ(skip["items"], 3);
  int identical = 0;
  for (const Json& item : skip["per_item"]) {
    const Json report = read_json_file(run + "/reports/" + item["id"].get<std::string>() + ".json");
    const Json& a = report["skip"]["agreement"];
    EXPECT_EQ(item["layers"], report["skip"]["layers"]);
    EXPECT_EQ(item["identical"], a["identical"]);
    EXPECT_EQ(item["position_agreement"], a["position_agreement"]);
    EXPECT_EQ(item["token_overlap"], a["token_overlap"]);
    identical += a["identical"].get<bool>();
  }
  EXPECT_EQ(skip["identical"], identical);
  r = run_cli("render '" + dir.file("s.json") + "' --out '" + dir.file("s.html") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream page(dir.file("s.html"));
  const std::string html((std::istreambuf_iterator<char>(page)), {});
  EXPECT_NE(html.find(std::to_string(identical) + " of 3 items"), std::string::npos);
}

TEST(BatchCli, KilledAtRandomMomentsLosesAtMostTheItemInFlight) {
  test::TempDir dir;
  const int n = 8;
  const std::string items = write_items(dir, n), run = dir.file("run");
  std::mt19937 rng(2026);
  std::uniform_int_distribution<int> delay_ms(300, 2500);
  size_t before = 0;
  for (int round = 0; round < 6; ++round) {
    const pid_t pid = spawn(batch_args(items, run));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    wait_exit(pid);
    if (!fs::exists(run)) continue;
    const auto lines = index_lines(run);  // every line intact
    EXPECT_GE(lines.size(), before);
    before = lines.size();
    for (const auto& [id, count] : count_ids(lines)) EXPECT_EQ(count, 1) << id << " after round " << round;
    for (const auto& j : lines) EXPECT_NO_THROW(read_report(run + "/" + j["report"].get<std::string>()));
  }
  auto r = run_cli(batch_args(items, run));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = index_lines(run);
  ASSERT_EQ(lines.size(), static_cast<size_t>(n));
  const auto counts = count_ids(lines);
  ASSERT_EQ(counts.size(), static_cast<size_t>(n));
  for (const auto& [id, count] : counts) EXPECT_EQ(count, 1) << id;
  for (const auto& j : lines) {
    EXPECT_EQ(j["status"], "ok");
    EXPECT_NO_THROW(read_report(run + "/" + j["report"].get<std::string>()));
  }
  for (const char* sub : {"reports", "features"})
    for (const auto& entry : fs::directory_iterator(run + "/" + sub))
      EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(BatchCli, SigintFinishesTheItemInFlightAndStopsCleanly) {
  test::TempDir dir;
  const std::string items = write_items(dir, 10), run = dir.file("run");
  const pid_t pid = spawn(batch_args(items, run));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         !(fs::exists(run + "/index.jsonl") && fs::file_size(run + "/index.jsonl") > 0))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130);
  const auto lines = index_lines(run);
  EXPECT_GE(lines.size(), 1u);
  EXPECT_LT(lines.size(), 10u);
  const auto r = run_cli(batch_args(items, run));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_ids(index_lines(run)).size(), 10u);
  EXPECT_EQ(index_lines(run).size(), 10u);
}

TEST(BatchCli, ShardsFillOneRunAndAggregateEqualsTheReports) {
  test::TempDir dir;
  const int n = 7;
  const std::string items = write_items(dir, n), run = dir.file("run");
  for (int i = 0; i < 3; ++i) {
    auto r = run_cli(batch_args(items, run, "--shard " + std::to_string(i) + "/3 --feature-dtype f32"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(fs::exists(run + "/index." + std::to_string(i) + "-of-3.jsonl"));
  const auto lines = index_lines(run);
  ASSERT_EQ(lines.size(), static_cast<size_t>(n));
  ASSERT_EQ(count_ids(lines).size(), static_cast<size_t>(n));

  auto r = run_cli("aggregate '" + run + "' --embedding pca --out '" + dir.file("summary.json") + "' --html '" +
                   dir.file("summary.html") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json s = read_json_file(dir.file("summary.json"));
  EXPECT_EQ(s["schema"], kSummarySchema);
  EXPECT_EQ(s["items"]["ok"], n);

  // Recompute from the reports: entropy quartiles at every layer, histograms of c and m.
  std::vector<Json> reports;
  for (const auto& j : lines) reports.push_back(read_report(run + "/" + j["report"].get<std::string>()));
  const int L = reports[0]["model"]["num_layers"];
  std::vector<int64_t> critical(L + 1, 0), mutation(L + 1, 0);
  size_t tokens = 0;
  for (int l = 0; l <= L; ++l) {
    std::vector<double> entropy;
    for (const auto& rep : reports)
      for (const auto& t : rep["tokens"]) {
        entropy.push_back(t["entropy"][l].get<double>());
        if (l == 0) {
          ++tokens;
          if (t["critical_layer"].is_number()) ++critical[t["critical_layer"].get<int>()];
          if (t["mutation_layer"].is_number()) ++mutation[t["mutation_layer"].get<int>()];
        }
      }
    std::sort(entropy.begin(), entropy.end());
    auto q = [&](double p) {
      const double pos = p * (entropy.size() - 1);
      const size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, entropy.size() - 1);
      return entropy[lo] + (pos - lo) * (entropy[hi] - entropy[lo]);
    };
    const Json& e = s["layers"][l]["entropy"];
    EXPECT_NEAR(e["median"].get<double>(), q(0.5), 1e-12) << l;
    EXPECT_NEAR(e["q1"].get<double>(), q(0.25), 1e-12) << l;
    EXPECT_NEAR(e["q3"].get<double>(), q(0.75), 1e-12) << l;
    EXPECT_EQ(e["min"].get<double>(), entropy.front());
  }
  EXPECT_EQ(s["items"]["tokens"].get<size_t>(), tokens);
  EXPECT_EQ(s["histograms"]["critical_layer"].get<std::vector<int64_t>>(), critical);
  EXPECT_EQ(s["histograms"]["mutation_layer"].get<std::vector<int64_t>>(), mutation);

  // Cross-image cosine at step 0 from the features files, brute force.
  const Json& f = s["features"];
  ASSERT_TRUE(f.is_object());
  EXPECT_EQ(f["items"], n);
  EXPECT_EQ(f["embedding"]["method"], "pca");
  EXPECT_EQ(f["embedding"]["points"].size(), static_cast<size_t>(n * (L + 1)));
  std::vector<std::vector<float>> h;  // per item: (L+1) x hidden
  size_t hidden = 0;
  for (const auto& j : lines) {
    auto file = SafetensorsFile::open(run + "/" + j["features"].get<std::string>());
    const auto& t = file->tensors().at(0);
    ASSERT_EQ(t.name, "token.0");
    ASSERT_EQ(t.dtype, DType::F32);
    hidden = static_cast<size_t>(t.shape[1]);
    const float* p = reinterpret_cast<const float*>(t.data);
    h.emplace_back(p, p + t.numel());
  }
  for (int l = 0; l <= L; ++l) {
    double sum = 0;
    int pairs = 0;
    for (size_t a = 0; a < h.size(); ++a)
      for (size_t b = a + 1; b < h.size(); ++b) {
        double dot = 0, na = 0, nb = 0;
        for (size_t k = 0; k < hidden; ++k) {
          const double x = h[a][l * hidden + k], y = h[b][l * hidden + k];
          dot += x * y, na += x * x, nb += y * y;
        }
        sum += dot / std::sqrt(na * nb), ++pairs;
      }
    EXPECT_NEAR(f["layers"][l]["mean_pairwise_cosine"].get<double>(), sum / pairs, 1e-6) << l;
  }

  // render accepts what aggregate writes.
  r = run_cli("render '" + dir.file("summary.json") + "' --out '" + dir.file("page.html") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream page(dir.file("page.html"));
  const std::string html((std::istreambuf_iterator<char>(page)), {});
  EXPECT_NE(html.find("Features across images"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.file("summary.html")));
}

}  // namespace
}  // namespace lvlm
