// `lvlm-probe evaluate`: AMBER's metrics over the answers of batch run directories, and the
// generated object words linked to the layers (docs/amber.md, schema lvlm-probe/eval/1).
#include <spdlog/spdlog.h>

#include "../batch/run_dir.h"
#include "../report/json_parts.h"
#include "layer_link.h"
#include "lvlm_probe/batch.h"
#include "lvlm_probe/report.h"

namespace lvlm {
namespace {

using amber::GroupLayers;

OrderedJson percent_json(const std::optional<double>& v) { return v ? OrderedJson(*v) : OrderedJson(); }

OrderedJson yes_no_json(const YesNoTotals& t) {
  return {{"answers", t.answers},        {"unparsed", t.unparsed},
          {"accuracy", percent_json(t.accuracy())}, {"precision", percent_json(t.precision())},
          {"recall", percent_json(t.recall())},     {"f1", percent_json(t.f1())}};
}

int query_id(const std::string& id, const std::string& where) {
  size_t used = 0;
  int value = -1;
  try {
    value = std::stoi(id, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != id.size() || value <= 0)
    throw InputError(where, "item id '" + id + "' is not an AMBER query id (a positive integer)");
  return value;
}

struct Evaluation {
  Evaluation(const AmberData& a, const NounLemmatizer& l) : amber(a), lemmas(l) {}
  const AmberData& amber;
  const NounLemmatizer& lemmas;
  size_t total = 0, ok = 0, failed = 0;
  OrderedJson runs = OrderedJson::array(), failures = OrderedJson::array(), answers = OrderedJson::array(),
              mentions = OrderedJson::array();
  GenerativeTotals generative;
  std::map<std::string, YesNoTotals> yes_no;  // by discriminative_group
  Json model;                                 // the first report's
  std::string model_origin;
  int num_layers = 0;

  void add_run(int r, const std::string& dir);
  void add_item(int r, const std::string& id, const Json& report, const std::string& path);
  void check_model(const Json& report, const std::string& path);
  OrderedJson json() const;
};

// Reports of one model and lens only: the groups are compared layer by layer.
void Evaluation::check_model(const Json& report, const std::string& path) {
  // Whatever their JSON types: a report whose settings are odd differs from the others and is named.
  auto setting = [&](const char* key) {
    const Json& settings = report.contains("settings") ? report["settings"] : Json();
    return settings.is_object() && settings.contains(key) ? settings[key] : Json("");
  };
  Json key = {{"num_layers", report["model"]["num_layers"]}, {"lens", setting("lens")}, {"divergence", setting("divergence")}};
  if (model.is_null()) {
    model = key;
    model_origin = path;
    num_layers = key["num_layers"].get<int>();
    return;
  }
  if (key != model)
    throw InputError(path, "cannot be evaluated with " + model_origin + ": " +
                               settings_differences(model, key, "there", "here").front() +
                               " (the layers of one model, lens and divergence are compared)");
}

void Evaluation::add_item(int r, const std::string& id, const Json& report, const std::string& path) {
  const AmberAnnotation* a = amber.find(query_id(id, path));
  if (!a) throw InputError(path, "query id " + id + " has no entry in " + join_path(amber.dir, "annotations.json"));
  if (!report["output"].contains("text") || !report["output"]["text"].is_string())
    throw InputError(path, "output.text is missing (the evaluation scores the answer)");
  const std::string text = report["output"]["text"].get<std::string>();
  OrderedJson answer = {{"run", r}, {"id", id}, {"type", a->type}, {"text", text}};
  if (a->type == "generative") {
    const GenerativeScore s = score_generative(text, *a, amber, lemmas);
    generative.add(s);
    OrderedJson objects = OrderedJson::array();
    for (size_t k = 0; k < s.objects.size(); ++k)
      objects.push_back({{"lemma", s.objects[k].lemma}, {"group", verdict_name(s.verdicts[k])}});
    answer["objects"] = std::move(objects);
    answer["truth_covered"] = s.truth_covered;
    answer["hallu_covered"] = s.hallu_covered;
    OrderedJson linked = amber::link_objects(report, *a, amber, lemmas, path);
    // The pieces spell output.text but for special tokens and byte pieces; say when they differ.
    if (linked.size() != s.objects.size())
      spdlog::warn("{}: {} object words in output.text, {} in the tokens' pieces; the layer link has the latter", path,
                   s.objects.size(), linked.size());
    for (OrderedJson& m : linked) {
      OrderedJson entry = {{"run", r}, {"id", id}};
      entry.update(m);
      mentions.push_back(std::move(entry));
    }
  } else {
    const std::string said = yes_no_answer(text);
    yes_no[discriminative_group(a->type)].add(a->answer, said);
    answer["answer"] = said.empty() ? OrderedJson() : OrderedJson(said);
    answer["truth"] = a->answer;
  }
  answers.push_back(std::move(answer));
}

void Evaluation::add_run(int r, const std::string& dir) {
  if (!file_exists(join_path(dir, "run.json")))
    throw InputError(dir, "no run.json: not a run directory written by lvlm-probe batch");
  const Json run_file = batch::read_run_file(dir);
  const Json& dataset = run_file["settings"].contains("dataset") ? run_file["settings"]["dataset"] : Json();
  const std::string kind = dataset.is_object() ? dataset.value("kind", "") : "";
  if (kind != "amber")
    throw InputError(join_path(dir, "run.json"), "a run of data set '" + kind +
                                                     "'; evaluate needs runs of lvlm-probe batch --dataset amber");
  size_t items = 0, ok_here = 0, failed_here = 0;
  for (const auto& [id, record] : read_run_index(dir)) {
    ++items;
    if (record["status"] == "failed") {
      ++failed_here;
      failures.push_back({{"run", r}, {"id", id}, {"reason", record.value("reason", record.value("error", ""))}});
      continue;
    }
    const std::string path = join_path(dir, record["report"].get<std::string>());
    const Json report = read_report(path);
    check_model(report, path);
    add_item(r, id, report, path);
    ++ok_here;
  }
  total += items, ok += ok_here, failed += failed_here;
  runs.push_back({{"dir", dir}, {"data", dataset.value("data", "")}, {"items", items}, {"ok", ok_here}, {"failed", failed_here}});
}

OrderedJson Evaluation::json() const {
  OrderedJson j;
  j["schema"] = kEvalSchema;
  j["tool"] = tool_json();
  j["amber"] = {{"dir", amber.dir}, {"vocabulary", amber.vocabulary.size()}, {"safe_words", amber.safe_words}};
  j["runs"] = runs;
  j["model"] = model.is_null() ? OrderedJson() : OrderedJson(model);
  j["items"] = {{"total", total}, {"ok", ok}, {"failed", failed}, {"generative", generative.answers},
                {"discriminative", answers.size() - generative.answers}};
  j["failed_items"] = failures;
  const GenerativeTotals& g = generative;
  j["generative"] = g.answers == 0 ? OrderedJson()
                                   : OrderedJson{{"answers", g.answers}, {"chair", percent_json(g.chair())},
                                                 {"cover", percent_json(g.cover())}, {"hal", percent_json(g.hal())},
                                                 {"cog", percent_json(g.cog())},
                                                 {"counts", {{"objects", g.objects}, {"hallucinated", g.hallucinated},
                                                             {"answers_hallucinating", g.answers_hallucinating},
                                                             {"truth", g.truth}, {"truth_covered", g.truth_covered},
                                                             {"hallu", g.hallu}, {"hallu_covered", g.hallu_covered}}}};
  if (yes_no.empty()) {
    j["discriminative"] = OrderedJson();
  } else {
    YesNoTotals all, attribute;
    OrderedJson d = OrderedJson::object();
    for (const auto& [group, t] : yes_no) {
      all += t;
      if (group == "state" || group == "number" || group == "action") attribute += t;
    }
    d["all"] = yes_no_json(all);
    if (attribute.answers) d["attribute"] = yes_no_json(attribute);
    for (const char* group : {"existence", "state", "number", "action", "relation"})
      if (auto it = yes_no.find(group); it != yes_no.end()) d[group] = yes_no_json(it->second);
    j["discriminative"] = std::move(d);
  }
  GroupLayers grounded(num_layers), hallucinated(num_layers);
  size_t safe = 0;
  for (const OrderedJson& m : mentions) {
    const Json plain = Json::parse(m.dump());
    if (m["group"] == "grounded") grounded.add(plain);
    else if (m["group"] == "hallucinated") hallucinated.add(plain);
    else ++safe;
  }
  j["groups"] = {{"grounded", grounded.json()}, {"hallucinated", hallucinated.json()}, {"safe_word_mentions", safe}};
  j["mentions"] = mentions;
  j["answers"] = answers;
  return j;
}

}  // namespace

OrderedJson evaluate_amber(const EvaluateOptions& o) {
  if (o.run_dirs.empty()) throw UsageError("evaluate: give at least one run directory");
  batch::refuse_repeated_runs(o.run_dirs, "evaluate");
  const AmberData amber = load_amber(o.amber_dir);
  const NounLemmatizer lemmas = NounLemmatizer::load(o.wordnet_dir);
  Evaluation e(amber, lemmas);
  for (size_t r = 0; r < o.run_dirs.size(); ++r) e.add_run(static_cast<int>(r), o.run_dirs[r]);
  if (e.failed > 0)
    spdlog::warn("{} of {} items failed in the batch and are not evaluated (reasons under 'failed_items')", e.failed, e.total);
  if (e.ok == 0) throw InputError(o.run_dirs.front(), "no finished item to evaluate (" + std::to_string(e.failed) + " failed)");
  return e.json();
}

}  // namespace lvlm
