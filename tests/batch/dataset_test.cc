// Data-set readers on copies of the published files, --ids/--limit, shards, index files.
#include <fstream>
#include <set>

#include "lvlm_probe/batch.h"
#include "test_util.h"

namespace lvlm {
namespace {

using test::data_path;

std::vector<std::string> ids_of(const std::vector<BatchItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.id);
  return out;
}

DatasetOptions amber() {
  DatasetOptions o;
  o.kind = DatasetKind::amber;
  o.data = data_path("batch/amber_query_generative.json");
  o.images = data_path("images/photos");
  return o;
}

TEST(Dataset, AmberGenerativeAsPublished) {
  const auto items = load_dataset(amber());
  ASSERT_EQ(items.size(), 20u);
  EXPECT_EQ(items[0].id, "1");
  EXPECT_EQ(items[0].image, data_path("images/photos/AMBER_1.jpg"));
  EXPECT_EQ(items[0].prompt, "Describe this image.");
  EXPECT_EQ(items[19].id, "20");
  EXPECT_EQ(items[19].image, data_path("images/photos/AMBER_20.jpg"));
}

TEST(Dataset, AmberDiscriminativeSharesImagesWithUniqueIds) {
  DatasetOptions o = amber();
  o.data = data_path("batch/amber_query_discriminative-existence.json");
  o.images.clear();  // relative names resolve beside the query file
  const auto items = load_dataset(o);
  ASSERT_EQ(items.size(), 12u);
  EXPECT_EQ(items[0].id, "8633");
  EXPECT_EQ(items[0].prompt, "Is there a cloud in this image?");
  EXPECT_EQ(items[0].image, data_path("batch/AMBER_1.jpg"));
  EXPECT_EQ(items[11].id, "8644");
  EXPECT_EQ(items[11].image, data_path("batch/AMBER_3.jpg"));
}

TEST(Dataset, AmberRefusesPrompt) {
  DatasetOptions o = amber();
  o.prompt = "x";
  EXPECT_THROW(load_dataset(o), UsageError);
}

TEST(Dataset, IdsAndLimitKeepFileOrder) {
  DatasetOptions o = amber();
  o.ids = "7,3,10-12";
  EXPECT_EQ(ids_of(load_dataset(o)), (std::vector<std::string>{"3", "7", "10", "11", "12"}));
  o.limit = 2;
  EXPECT_EQ(ids_of(load_dataset(o)), (std::vector<std::string>{"3", "7"}));
  o.ids.clear();
  o.limit = 4;
  EXPECT_EQ(ids_of(load_dataset(o)), (std::vector<std::string>{"1", "2", "3", "4"}));
  o.ids = "99";
  EXPECT_THROW(load_dataset(o), UsageError);
}

TEST(Dataset, CocoCaptionsSample) {
  DatasetOptions o;
  o.kind = DatasetKind::coco;
  o.data = data_path("batch/captions_sample2014.json");
  EXPECT_THROW(load_dataset(o), UsageError);  // COCO items hold no question
  o.prompt = "Describe this image.";
  o.images = data_path("images/photos");
  const auto items = load_dataset(o);
  ASSERT_EQ(items.size(), 13u);
  EXPECT_EQ(items[0].id, "1001");
  EXPECT_EQ(items[0].image, data_path("images/photos/COCO_val2014_000000001001.jpg"));
  EXPECT_EQ(items[12].id, "1013");
  EXPECT_EQ(items[12].prompt, "Describe this image.");
}

TEST(Dataset, JsonlAndFolder) {
  test::TempDir dir;
  {
    std::ofstream f(dir.file("items.jsonl"));
    f << R"({"id": "b", "image": "x.png", "prompt": "What?"})" << "\n\n"
      << R"({"id": 7, "image": "y.png"})" << "\n";
  }
  DatasetOptions o;
  o.kind = DatasetKind::jsonl;
  o.data = dir.file("items.jsonl");
  try {  // line 3 has no prompt and there is no --prompt: the message says how to give one
    load_dataset(o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing key 'prompt' (give each line a prompt, or one for all lines with "
                                         "--prompt)"),
              std::string::npos)
        << e.what();
  }
  o.prompt = "Default?";
  auto items = load_dataset(o);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].id, "b");
  EXPECT_EQ(items[0].prompt, "What?");
  EXPECT_EQ(items[0].image, dir.file("x.png"));
  EXPECT_EQ(items[1].id, "7");
  EXPECT_EQ(items[1].prompt, "Default?");
  {
    std::ofstream f(dir.file("dup.jsonl"));
    f << R"({"id": "a", "image": "x.png"})" << "\n" << R"({"id": "a", "image": "y.png"})" << "\n";
  }
  o.data = dir.file("dup.jsonl");
  EXPECT_THROW(load_dataset(o), InputError);

  std::filesystem::create_directory(dir.file("imgs"));
  for (const char* name : {"b.png", "a.JPG", "c.txt", "B.jpeg"}) std::ofstream(dir.file("imgs/") + name) << "x";
  DatasetOptions folder;
  folder.kind = DatasetKind::folder;
  folder.data = dir.file("imgs");
  folder.prompt = "Q";
  items = load_dataset(folder);
  EXPECT_EQ(ids_of(items), (std::vector<std::string>{"B.jpeg", "a.JPG", "b.png"}));  // byte order
  EXPECT_EQ(items[2].image, dir.file("imgs/b.png"));
}

TEST(Shard, PartitionExactly) {
  for (size_t n_items : {0u, 1u, 7u, 20u, 1004u}) {
    std::vector<BatchItem> items;
    for (size_t i = 0; i < n_items; ++i) items.push_back({std::to_string(i), "", ""});
    for (int count = 1; count <= 9; ++count) {
      std::multiset<std::string> seen;
      size_t smallest = SIZE_MAX, largest = 0;
      for (int index = 0; index < count; ++index) {
        const auto part = shard_items(items, {index, count});
        smallest = std::min(smallest, part.size());
        largest = std::max(largest, part.size());
        for (const auto& item : part) seen.insert(item.id);
      }
      ASSERT_EQ(seen.size(), n_items) << count;
      for (const auto& item : items) ASSERT_EQ(seen.count(item.id), 1u) << item.id << " of " << count;
      EXPECT_LE(largest - smallest, 1u);
    }
  }
}

TEST(Shard, ParseTextAndSlurm) {
  Shard s = parse_shard("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  EXPECT_THROW(parse_shard("5/5"), UsageError);
  EXPECT_THROW(parse_shard("x"), UsageError);
  auto env = [](std::map<std::string, std::string> m) {
    return [m](const char* name) -> const char* {
      auto it = m.find(name);
      return it == m.end() ? nullptr : it->second.c_str();
    };
  };
  s = parse_shard("auto", env({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "3"}}));
  EXPECT_EQ(s.text(), "1/3");
  s = parse_shard("auto", env({{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_MAX", "3"}}));
  EXPECT_EQ(s.text(), "2/3");
  s = parse_shard("auto", env({{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "3"},
                               {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_MAX", "3"}}));
  EXPECT_EQ(s.text(), "2/3");
  EXPECT_THROW(parse_shard("auto", env({})), UsageError);
}

TEST(RunDir, ItemFileNamesAreSafeAndDistinct) {
  EXPECT_EQ(item_file_name("1001"), "1001");
  EXPECT_EQ(item_file_name("a.jpg"), "a.jpg");
  const std::string a = item_file_name("../etc/passwd"), b = item_file_name("../etc/passwd ");
  EXPECT_EQ(a.find('/'), std::string::npos);
  EXPECT_NE(a[0], '.');
  EXPECT_NE(a, b);
  EXPECT_EQ(index_file_name({0, 1}), "index.jsonl");
  EXPECT_EQ(index_file_name({2, 3}), "index.2-of-3.jsonl");
}

TEST(RunDir, TornLastIndexLineIsLeftOut) {
  test::TempDir dir;
  std::ofstream(dir.file("index.jsonl")) << R"({"id":"1","status":"ok","report":"reports/1.json"})" "\n"
                                          << R"({"id":"2","status":"failed","error":"x"})" "\n"
                                          << R"({"id":"3","sta)";
  uint64_t valid = 0;
  const auto records = read_index_file(dir.file("index.jsonl"), &valid);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(valid, std::filesystem::file_size(dir.file("index.jsonl")) - std::string(R"({"id":"3","sta)").size());
  std::ofstream(dir.file("index.0-of-2.jsonl")) << R"({"id":"2","status":"ok","report":"reports/2.json"})" "\n";
  const auto all = read_run_index(dir.path());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all.at("2")["status"], "ok");
  std::ofstream(dir.file("index.1-of-2.jsonl")) << "{\"id\":\"4\"}\n";
  EXPECT_THROW(read_run_index(dir.path()), InputError);
}

}  // namespace
}  // namespace lvlm
