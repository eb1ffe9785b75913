// `lvlm-probe batch` and `aggregate` as a user runs them, on the tiny model: resume, SIGKILL at
// chosen write stages, SIGINT, failed items, shards into one run directory, and a summary that
// equals what the per-item reports imply.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "lvlm_probe/analysis.h"
#include "lvlm_probe/batch.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/report.h"
#include "test_util.h"
#include "write_stages.h"

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
  // run.json names the family's default template the prompts went through, so naming it is the same run.
  EXPECT_EQ(read_json_file(run + "/run.json")["settings"]["template"], "llava_v1");
  r = run_cli(batch_args(items, run, "--template llava_v1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Other settings are refused, naming the difference.
  r = run_cli(batch_args(items, run, "--lens raw"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("lens"), std::string::npos) << r.err;
}

// The run directory's files are only ever regular files (docs/hardening.md, "Outputs"): an index
// that is a planted symbolic link is refused, and the file it points to stays as it was.
TEST(BatchCli, AnIndexThatIsASymbolicLinkIsRefused) {
  test::TempDir dir;
  const std::string items = write_items(dir, 1), run = dir.file("run"), victim = dir.file("victim");
  std::ofstream(victim) << "keep";
  fs::create_directory(run);
  fs::create_symlink(victim, run + "/index.jsonl");
  const auto r = run_cli(batch_args(items, run));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(run + "/index.jsonl: is not a regular file; refusing to append to it"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(victim), "keep");
  EXPECT_FALSE(fs::exists(run + "/reports/item-0.json"));
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
  EXPECT_NE(by_id["missing"]["reason"].get<std::string>().find("nope.png"), std::string::npos);
  EXPECT_EQ(by_id["missing"]["error_kind"], "input");
  EXPECT_EQ(by_id["garbage"]["status"], "failed");
  EXPECT_NE(by_id["garbage"]["reason"].get<std::string>().find("garbage.png"), std::string::npos);
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
  EXPECT_EQ(s["failed_items"].size(), 2u);
}

// jsonl items with these ids and prompts, all on one photo.
std::string write_prompts(const test::TempDir& dir, const std::vector<std::pair<std::string, std::string>>& items) {
  std::ofstream f(dir.file("prompts.jsonl"));
  for (const auto& [id, prompt] : items)
    f << Json{{"id", id}, {"image", data_path("images/photos/Animal1.jpg")}, {"prompt", prompt}}.dump() << "\n";
  return dir.file("prompts.jsonl");
}

std::map<std::string, Json> by_id(const std::vector<Json>& lines) {
  std::map<std::string, Json> out;
  for (const auto& j : lines) out[j["id"]] = j;
  return out;
}

// Lines of stderr that are errors (not info or warnings).
using test::error_lines;

TEST(BatchCli, AnItemsOwnPromptProblemIsRecordedAndTheRunGoesOn) {
  test::TempDir dir;
  std::string long_question;
  for (int i = 0; i < 300; ++i) long_question += "word ";  // the tiny model has 256 positions
  const std::string items = write_prompts(dir, {{"ok-1", "<image>\nDescribe it."},
                                                {"no-image", "Describe it."},  // --template raw needs <image>
                                                {"too-long", "<image>\n" + long_question},
                                                {"ok-2", "<image>\nIs there a dog?"}}),
                    run = dir.file("run"), args = batch_args(items, run, "--template raw --feature-steps none");
  auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("2 of 4 items failed"), std::string::npos) << r.err;
  auto lines = by_id(index_lines(run));
  ASSERT_EQ(lines.size(), 4u);
  for (const char* id : {"ok-1", "ok-2"}) {
    EXPECT_EQ(lines[id]["status"], "ok") << id;
    EXPECT_TRUE(fs::exists(run + "/reports/" + id + ".json")) << id;
  }
  EXPECT_EQ(lines["no-image"]["status"], "failed");
  EXPECT_EQ(lines["no-image"]["error_kind"], "usage");
  EXPECT_NE(lines["no-image"]["reason"].get<std::string>().find("0 <image> tokens"), std::string::npos);
  EXPECT_EQ(lines["too-long"]["status"], "failed");
  EXPECT_EQ(lines["too-long"]["error_kind"], "usage");
  EXPECT_NE(lines["too-long"]["reason"].get<std::string>().find("exceeds the model's 256 positions"), std::string::npos);

  r = run_cli(args);  // a resume does not retry failed items
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("4 finished earlier, 0 to probe"), std::string::npos) << r.err;
  EXPECT_EQ(index_lines(run).size(), 4u);
  r = run_cli(args + " --retry-failed");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(index_lines(run).size(), 6u);

  // The summary lists them, with the run as given and the index's reason.
  r = run_cli("aggregate '" + run + "' --feature-step -1 --out '" + dir.file("s.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json s = read_json_file(dir.file("s.json"));
  const Json expected = Json::array({{{"run", run}, {"id", "no-image"}, {"reason", lines["no-image"]["reason"]}},
                                     {{"run", run}, {"id", "too-long"}, {"reason", lines["too-long"]["reason"]}}});
  EXPECT_EQ(s["failed_items"], expected);
  ASSERT_EQ(s["run_details"].size(), 1u);
  EXPECT_EQ(s["run_details"][0]["path"], run);
  EXPECT_EQ(s["run_details"][0]["items"], 4);
  EXPECT_EQ(s["run_details"][0]["failed"], 2);
}

TEST(BatchCli, ProblemsOfTheWholeRunStopBeforeAnyItem) {
  test::TempDir dir;
  const std::string items = write_items(dir, 2), run = dir.file("run");
  for (const char* flags : {"--skip-layers 9", "--stages fixed --critical-layer 4", "--template nope"}) {
    const auto r = run_cli(batch_args(items, run, flags));
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.err;
    EXPECT_EQ(error_lines(r.err).size(), 1u) << r.err;
    EXPECT_FALSE(fs::exists(run)) << flags << ": no item may be recorded";
  }
}

TEST(BatchCli, WritersOfAnotherShardLayoutAreRefused) {
  test::TempDir dir;
  const std::string items = write_items(dir, 4), run = dir.file("run");
  const std::string args = batch_args(items, run, "--feature-steps none");
  auto r = run_cli(args + " --shard 0/2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json layout = read_json_file(run + "/run.json")["layout"];
  EXPECT_EQ(layout["shards"], 2);
  EXPECT_EQ(layout["items"], 4);

  r = run_cli(args + " --shard 0/3");  // would probe item-3 a second time
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const auto errors = error_lines(r.err);
  ASSERT_EQ(errors.size(), 1u) << r.err;
  for (const std::string part : {run + "/run.json", std::string("--shard I/2 over 4 items"), std::string("--shard I/3 over 4 items")})
    EXPECT_NE(errors[0].find(part), std::string::npos) << part << " in " << errors[0];
  EXPECT_FALSE(fs::exists(run + "/index.0-of-3.jsonl"));
  EXPECT_EQ(run_cli(args).exit_code, 2);  // unsharded
  EXPECT_EQ(run_cli(args + " --shard 1/2 --ids item-1,item-2,item-3").exit_code, 2);  // another item list

  // The same count stays open to every shard, with any --limit (a prefix keeps each item's shard).
  r = run_cli(args + " --shard 1/2 --limit 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli(args + " --shard 1/2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = index_lines(run);
  EXPECT_EQ(lines.size(), 4u);
  for (const auto& [id, n] : count_ids(lines)) EXPECT_EQ(n, 1) << id;
}

// A finished run of two items, copied for each tampering below.
std::string finished_run(const test::TempDir& dir) {
  const std::string run = dir.file("run");
  const auto r = run_cli(batch_args(write_items(dir, 2), run, "--feature-steps none"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return run;
}

TEST(BatchCli, AggregateReadsOnlyFilesInsideTheRunDirectory) {
  test::TempDir dir;
  const std::string run = finished_run(dir), secret = dir.file("secret.json");
  std::ofstream(secret) << "SECRET-BYTES";
  const std::string line3 = "/index.jsonl:3";
  struct Case {
    std::string name, where;  // the index line named in the error
    std::function<void(const std::string&)> tamper;
  };
  auto append = [](const std::string& copy, const Json& j) { std::ofstream(copy + "/index.jsonl", std::ios::app) << j.dump() << "\n"; };
  const std::vector<Case> cases = {
      {"climbs out", line3, [&](const std::string& c) { append(c, {{"id", "item-1"}, {"status", "ok"}, {"report", "../secret.json"}}); }},
      {"absolute", line3, [&](const std::string& c) { append(c, {{"id", "item-1"}, {"status", "ok"}, {"report", secret}}); }},
      {"features climb out", line3,
       [&](const std::string& c) {
         append(c, {{"id", "item-1"}, {"status", "ok"}, {"report", "reports/item-1.json"}, {"features", "../../secret.json"}});
       }},
      {"symbolic link", "/index.jsonl:2",
       [&](const std::string& c) {
         fs::remove(c + "/reports/item-1.json");
         fs::create_symlink(secret, c + "/reports/item-1.json");
       }},
      {"index file links out", "/index.jsonl",
       [&](const std::string& c) {
         fs::remove(c + "/index.jsonl");
         fs::create_symlink(secret, c + "/index.jsonl");
       }},
      {"run.json links out", "/run.json",
       [&](const std::string& c) {
         fs::remove(c + "/run.json");
         fs::create_symlink(secret, c + "/run.json");
       }},
  };
  for (const auto& k : cases) {
    const std::string copy = dir.file("run-" + std::to_string(&k - cases.data()));
    fs::copy(run, copy, fs::copy_options::recursive);
    k.tamper(copy);
    const auto r = run_cli("aggregate '" + copy + "' --feature-step -1 --out '" + dir.file("s.json") + "'");
    EXPECT_EQ(r.exit_code, 3) << k.name << ": " << r.err;
    const auto errors = error_lines(r.err);
    ASSERT_EQ(errors.size(), 1u) << k.name << ": " << r.err;
    EXPECT_NE(errors[0].find(copy + k.where + ":"), std::string::npos) << k.name << ": " << errors[0];
    EXPECT_NE(errors[0].find("outside the run directory"), std::string::npos) << k.name << ": " << errors[0];
    EXPECT_EQ(r.err.find("SECRET"), std::string::npos) << k.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir.file("s.json"))) << k.name;
  }
}

TEST(BatchCli, AggregateRecordsEveryRunOnceAndRefusesMixedSettings) {
  test::TempDir dir;
  const std::string first = finished_run(dir), items = write_items(dir, 3);
  const std::string second = dir.file("second"), raw_lens = dir.file("raw-lens");
  ASSERT_EQ(run_cli(batch_args(items, second, "--feature-steps none --ids item-2")).exit_code, 0);
  ASSERT_EQ(run_cli(batch_args(items, raw_lens, "--feature-steps none --lens raw --limit 1")).exit_code, 0);
  const std::string out = " --feature-step -1 --out '" + dir.file("s.json") + "'";

  auto r = run_cli("aggregate '" + first + "' '" + second + "'" + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json s = read_json_file(dir.file("s.json"));
  EXPECT_EQ(s["items"]["ok"], 3);
  EXPECT_EQ(s["failed_items"], Json::array());
  ASSERT_EQ(s["run_details"].size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const Json& run = s["run_details"][k];
    EXPECT_EQ(run["path"], k == 0 ? first : second);
    EXPECT_EQ(run["settings"], read_json_file((k == 0 ? first : second) + "/run.json")["settings"]);
    EXPECT_EQ(run["model"]["num_layers"], 4);
    EXPECT_EQ(run["items"], k == 0 ? 2 : 1);
  }

  fs::create_directory_symlink(first, dir.file("link"));
  for (const std::string twice : {first + "/", dir.file("link")}) {
    r = run_cli("aggregate '" + first + "' '" + twice + "'" + out);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("the same run directory"), std::string::npos) << r.err;
  }
  r = run_cli("aggregate '" + first + "' '" + raw_lens + "'" + out);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const auto errors = error_lines(r.err);
  ASSERT_EQ(errors.size(), 1u) << r.err;
  EXPECT_NE(errors[0].find(raw_lens + "/run.json"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("lens: \"norm\""), std::string::npos) << errors[0];
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

// SIGKILLed at chosen write stages (tests/write_stages.h: the process stops before each stage of
// every atomic write, so each kill lands at a known stage on any machine), then resumed: every
// index line stays intact, no item is indexed twice, every indexed report is whole, and only the
// item in flight is lost: at most one report in place without its index line.
TEST(BatchCli, KilledAtWriteStagesLosesAtMostTheItemInFlight) {
  test::TempDir dir;
  const int n = 8;
  const std::string items = write_items(dir, n), run = dir.file("run");
  // Stops counted from each resume; a run's first stops belong to run.json, then each item goes
  // through its features and report (5 stages per file).
  const int kill_at[] = {0, 3, 6, 11, 17, 24};
  size_t before = 0;
  for (const int k : kill_at) {
    SCOPED_TRACE("killed at stop " + std::to_string(k) + " after " + std::to_string(before) + " items");
    test::TempDir log;
    test::StagedRun staged(batch_args(items, run), log.file("stages"));
    bool stopped = true;
    for (int stop = 0; stop <= k && stopped; ++stop) stopped = staged.next_stop();
    ASSERT_TRUE(stopped) << "the batch ended before stop " << k << " with exit " << staged.finish();
    const auto reached = staged.stages();
    EXPECT_TRUE(staged.kill());
    // The first stage is run.json's, inside the run directory: it exists at every kill.
    ASSERT_TRUE(fs::is_directory(run)) << "no run directory at stage " << reached.back().stage;
    const auto lines = index_lines(run);  // every line intact
    EXPECT_GE(lines.size(), before);
    before = lines.size();
    for (const auto& [id, count] : count_ids(lines)) EXPECT_EQ(count, 1) << id;
    std::set<std::string> indexed;
    for (const auto& j : lines) {
      EXPECT_NO_THROW(read_report(run + "/" + j["report"].get<std::string>()));
      indexed.insert(run + "/" + j["report"].get<std::string>());
    }
    int in_place_not_indexed = 0;
    for (const auto& s : reached) {
      const bool report = s.path.find("/reports/") != std::string::npos;
      in_place_not_indexed += s.stage == "done" && report && !indexed.count(s.path);
    }
    EXPECT_LE(in_place_not_indexed, 1) << "more than the item in flight lost";
  }
  EXPECT_GT(before, 0u) << "no kill came after a finished item";
  EXPECT_LT(before, static_cast<size_t>(n)) << "no kill came before the last item";
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

// SIGINT arrives while the first item's report is being put in place (stopped there by the
// write-stage hook): that item is finished and indexed, no other is started.
TEST(BatchCli, SigintFinishesTheItemInFlightAndStopsCleanly) {
  test::TempDir dir, log;
  const std::string items = write_items(dir, 10), run = dir.file("run");
  test::StagedRun staged(batch_args(items, run), log.file("stages"));
  auto at_first_report = [&] {
    const auto s = staged.stages();
    return !s.empty() && s.back().stage == "rename" && s.back().path.find("/reports/") != std::string::npos;
  };
  while (staged.next_stop() && !at_first_report()) {
  }
  ASSERT_TRUE(at_first_report()) << "the batch ended before its first report";
  staged.signal(SIGINT);
  EXPECT_EQ(staged.finish(), 130);
  const auto lines = index_lines(run);
  EXPECT_EQ(lines.size(), 1u);
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
