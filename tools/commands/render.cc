// `lvlm-probe render`: the HTML page of a report or a batch summary.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "lvlm_probe/render.h"
#include "lvlm_probe/report.h"

namespace lvlm::cli {

void write_html(const std::string& path, const Json& report_or_summary, const RenderOptions& options) {
  write_file_atomic(path, render_html(report_or_summary, options));
  log_written("page", path);
}

void add_render(CLI::App& app, Action& action) {
  struct Flags {
    std::string input, out = "page.html", features, tsne = "stages";
    int focus = -1;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("render", "write the HTML page (figures) of a report or a summary");
  add_input_option(sub, "input", f->input, "report.json or summary.json", "the input")->required();
  add_output_option(sub, "--out", f->out, "HTML file; - for stdout")->capture_default_str();
  sub->add_option("--focus", f->focus, "generated token (step) whose probability curves are drawn; -1 = auto")
      ->capture_default_str();
  sub->add_option("--features", f->features,
                  "the report's --dump-features file: adds the t-SNE of every token's hidden state at every layer");
  sub->add_option("--tsne", f->tsne, "t-SNE style: stages (unit-length rows, coloured by the detected stages) or "
                                     "paper (MaxAbsScaler and tsne.py's fixed layer groups)")
      ->check(CLI::IsMember({"stages", "paper"}))
      ->capture_default_str();
  sub->callback([&action, f] {
    action = [f] {
      Json j = read_json_file(f->input);
      // Reports are validated with the file named in messages; summaries by the renderer.
      // (j.value("schema", "") would throw nlohmann's type_error, exit 4, on {"schema": 5}.)
      const auto schema = j.is_object() ? j.find("schema") : j.end();
      if (schema != j.end() && schema->is_string() && schema->get<std::string>().rfind("lvlm-probe/report/", 0) == 0)
        validate_report(j, f->input);
      RenderOptions options;
      options.focus_step = f->focus;
      options.features = f->features;
      options.tsne = parse_token_embedding_style(f->tsne);
      if (!f->features.empty() && !file_exists(f->features)) throw InputError(f->features, "no such file (--features)");
      try {
        write_html(f->out, j, options);
      } catch (const InputError& e) {
        // A features problem names the features file already.
        if (!f->features.empty() && std::string(e.what()).rfind(f->features, 0) == 0) throw;
        throw InputError(f->input, e.what());
      }
      return 0;
    };
  });
}

}  // namespace lvlm::cli
