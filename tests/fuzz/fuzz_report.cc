// The report readers of `check` and `render` on hostile JSON: parse_json (bounded), then
// validate_report; a report that passes must be safe to compare (check_reports) and to render
// (render_html), which read more keys than validation checks. Summaries go to render_html too.
#include "fuzz_util.h"
#include "lvlm_probe/render.h"
#include "lvlm_probe/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lvlm::fuzz::expect_only_lvlm_errors([&] {
    lvlm::Json j = lvlm::parse_json(lvlm::fuzz::as_view(data, size), "report.json");
    bool is_report = false;
    lvlm::fuzz::expect_only_lvlm_errors([&] {
      lvlm::validate_report(j, "report.json");
      is_report = true;
    });
    if (is_report) (void)lvlm::check_reports(j, j, lvlm::CheckOptions{});
    lvlm::RenderOptions options;
    options.max_rows = 40;  // keep pages small: the fuzzer looks for crashes, not big pages
    options.max_columns = 20;
    (void)lvlm::render_html(j, options);
  });
  return 0;
}
