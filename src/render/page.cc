// The page shell shared by report and summary pages (document, CSS) and the schema dispatch.
#include "html.h"

namespace lvlm {
namespace render {
namespace {

// One stylesheet for both pages. No '<' or '&' in it: the page stays well-formed XML.
constexpr const char* kCss = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1a1a1a;background:#fff;
 margin:0 auto;max-width:1400px;padding:14px 24px}
h1{font-size:22px;margin:2px 0 4px}
h2{font-size:17px;margin:26px 0 6px;padding-bottom:2px;border-bottom:1px solid #ddd}
p{margin:4px 0}
.sub,.note{color:#555;font-size:12px}
.output{font-size:16px;margin:6px 0;white-space:pre-wrap;word-break:break-word;max-height:8em;overflow-y:auto}
.output q{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f5f5f5;padding:1px 4px}
.stages{font-size:15px;margin:6px 0}
.chip{display:inline-block;padding:1px 8px;margin:0 4px 2px 0;border:1px solid #999;border-radius:3px}
.chip.rapid_evolution{background:#fbd7a4}.chip.stabilization{background:#e9f0f8}.chip.mutation{background:#eaa6bf}
details.meta{margin:8px 0}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:1px 14px;margin:6px 0;font-size:13px}
dl.meta dt{color:#555}
dl.meta dd{margin:0;white-space:pre-wrap;word-break:break-word}
.mono,.piece{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre}
svg{display:block;max-width:none}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
.tick{font-size:10px;fill:#444}
.axislabel{font-size:11px;fill:#333}
.charttitle{font-size:13px;font-weight:600;fill:#111}
.legend{font-size:11px;fill:#222;white-space:pre}
.band{font-size:10px;fill:#333}
svg .note{font-size:10px;fill:#555}
.marklabel{font-size:10px;font-weight:600;fill:#000;paint-order:stroke;stroke:#fff;stroke-width:3px}
.axis{stroke:#333}
.grid{stroke:#e4e4e4}
.mark{stroke:#000;stroke-dasharray:3 2}
.frame{fill:none;stroke:#bbb}
.tok{font-size:11px;white-space:pre;fill:#111;font-family:ui-monospace,Menlo,Consolas,monospace}
.stepno{font-size:9px;fill:#888}
.na{fill:#d0d0d0}
.mc{fill:#fff;stroke:#000;stroke-width:0.5}
.mm{fill:#ff2a6d;stroke:#fff;stroke-width:0.7}
.halo{stroke:#fff;stroke-width:3.5}
.stageline{stroke:#000;stroke-width:1.3;stroke-dasharray:6 3}
.fnline,.fnmark{stroke:#555;stroke-width:1.3;stroke-dasharray:1 2}
.chip.undetermined{background:#fff;border-style:dashed}
.hm label{margin:0 14px 0 2px;font-size:13px}
.hm-body{overflow-x:auto;margin-top:4px}
.lg-abs,.lg-log{display:none}
.charts{display:flex;flex-wrap:wrap;gap:6px 22px;align-items:flex-start}
.scroll{overflow-x:auto}
table.data{border-collapse:collapse;font-size:12px}
table.data th,table.data td{padding:1px 7px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
table.data th{background:#f4f4f4;position:sticky;top:0}
table.data td.num{text-align:right;font-variant-numeric:tabular-nums}
table.data td.hit{font-weight:700;text-decoration:underline}
table.data tr.rapid_evolution td.stage{background:#fbd7a4}
table.data tr.stabilization td.stage{background:#e9f0f8}
table.data tr.mutation td.stage{background:#eaa6bf}
.p{color:#666}
footer{margin:30px 0 10px;color:#666;font-size:12px}
@media print{body{max-width:none;padding:0}.hm input,.hm label{display:none}details{display:block}}
)CSS";

}  // namespace

std::string html_document(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/>"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/><title>" +
         token_label(title, 100) + "</title><style>" + kCss + "</style></head><body>" + body + "</body></html>\n";
}

std::string dl_row(const std::string& key, const std::string& value_markup) {
  return "<dt>" + escape(key) + "</dt><dd>" + value_markup + "</dd>";
}

}  // namespace render

std::string render_html(const Json& report_or_summary, const RenderOptions& options) {
  const Json& schema = render::child(report_or_summary, "schema");
  const std::string name = schema.is_string() ? schema.get<std::string>() : render::dump(schema);
  if (name.rfind("lvlm-probe/report/", 0) == 0) return render_report_html(report_or_summary, options);
  if (name.rfind("lvlm-probe/summary/", 0) == 0) return render_summary_html(report_or_summary, options);
  if (name.rfind("lvlm-probe/eval/", 0) == 0) return render_eval_html(report_or_summary);
  throw InputError("not an lvlm-probe report, summary or evaluation: schema is " + name +
                   " (expected lvlm-probe/report/1, lvlm-probe/summary/1 or lvlm-probe/eval/1)");
}

}  // namespace lvlm
