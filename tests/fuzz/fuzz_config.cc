// The two config parsers on the same JSON text: config.json (parse_llava_config) and
// preprocessor_config.json (parse_preprocessor_config). After a successful parse, the derived
// sizes the model is built from must be computable without overflow (UBSan checks).
#include "fuzz_util.h"
#include "lvlm_probe/image.h"
#include "models/llava/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(lvlm::fuzz::as_view(data, size));
  lvlm::fuzz::expect_only_lvlm_errors([&] {
    lvlm::LlavaConfig c = lvlm::parse_llava_config(text, "config.json");
    volatile int64_t sink = c.num_image_features() + c.vision_hidden_state_index();
    (void)sink;
  });
  lvlm::fuzz::expect_only_lvlm_errors([&] {
    lvlm::ClipPreprocessConfig p = lvlm::parse_preprocessor_config(text, "preprocessor_config.json");
    if (p.do_resize && p.shortest_edge > 0) {
      // The resize target of a typical photo must be computable for any accepted config.
      volatile auto s = lvlm::shortest_edge_size(640, 480, p.shortest_edge);
      (void)s;
    }
  });
  return 0;
}
