// Helper of screenshot_test.sh (and for looking at pages by hand):
//   render_tool page IN.json OUT.html [FOCUS_STEP]      render a report or summary
//   render_tool report T L C M OUT.json                 write a synthetic report
//   render_tool summary ITEMS L C M OUT.json            write a synthetic summary
//   render_tool report2 T L C M OUT.json                the report in schema report/2; C or M < 0:
//                                                      undetermined / absent; M = L: with an hf
//                                                      final-norm step at L as well
//   render_tool png FILE WIDTH HEIGHT                   check a screenshot: size, and not blank
// Exit 0 when all is well, 1 with a message otherwise.
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <set>
#include <string>

#include "lvlm_probe/common.h"
#include "lvlm_probe/render.h"
#include "synthetic.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include "stb_image.h"

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "render_tool: %s\n", message.c_str());
  return 1;
}

// A screenshot of a rendered page must have the window's size, a mostly white background and
// plenty of drawing on it: at least 3 % non-background pixels and 50 distinct colours (a blank
// or error page has one or two).
int check_png(const char* path, int want_w, int want_h) {
  int w = 0, h = 0, channels = 0;
  unsigned char* px = stbi_load(path, &w, &h, &channels, 3);
  if (!px) return fail(std::string(path) + ": not a readable PNG (" + stbi_failure_reason() + ")");
  std::set<unsigned> colours;
  size_t drawn = 0;
  const unsigned background = (px[0] << 16) | (px[1] << 8) | px[2];
  for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
    const unsigned c = (px[3 * i] << 16) | (px[3 * i + 1] << 8) | px[3 * i + 2];
    if (colours.size() < 100000) colours.insert(c);
    drawn += c != background;
  }
  stbi_image_free(px);
  std::printf("%s: %dx%d, %zu colours, %.1f %% drawn\n", path, w, h, colours.size(), 100.0 * drawn / (double(w) * h));
  if (w != want_w || h != want_h)
    return fail(std::string(path) + ": expected " + std::to_string(want_w) + "x" + std::to_string(want_h) + ", got " +
                std::to_string(w) + "x" + std::to_string(h));
  if (colours.size() < 50 || drawn < 0.03 * w * h) return fail(std::string(path) + ": looks blank");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "page" && (argc == 4 || argc == 5)) {
      lvlm::RenderOptions options;
      if (argc == 5) options.focus_step = std::atoi(argv[4]);
      lvlm::write_file_atomic(argv[3], lvlm::render_html(lvlm::read_json_file(argv[2]), options));
      return 0;
    }
    if ((cmd == "report" || cmd == "summary") && argc == 7) {
      const int n = std::atoi(argv[2]), L = std::atoi(argv[3]), c = std::atoi(argv[4]), m = std::atoi(argv[5]);
      const lvlm::Json j = cmd == "report" ? lvlm::test::synthetic_report(n, L, c, m) : lvlm::test::synthetic_summary(n, L, c, m);
      lvlm::write_file_atomic(argv[6], j.dump());
      return 0;
    }
    if (cmd == "report2" && argc == 7) {
      const int n = std::atoi(argv[2]), L = std::atoi(argv[3]), c = std::atoi(argv[4]), m = std::atoi(argv[5]);
      lvlm::Json j = lvlm::test::report_v2(lvlm::test::synthetic_report(n, L, std::max(c, 2), m < 0 ? L : m), c, m,
                                           c < 0 ? 0.05 : 0.9, m < 0 ? 0.05 : 0.8);
      if (m == L) j["stages"]["final_norm_step"] = {{"layer", L}, {"divergence", 0.3}, {"note", "hf lens"}};
      j["tokens"][0]["piece"] = "";
      j["tokens"][1]["piece"] = " ";
      lvlm::write_file_atomic(argv[6], j.dump());
      return 0;
    }
    if (cmd == "png" && argc == 5) return check_png(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return fail("usage: render_tool page IN OUT [FOCUS] | report|report2|summary N L C M OUT | png FILE W H");
}
