// parse_safetensors_header on hostile headers. Input layout: 8 bytes little-endian = the size of
// the data section that follows the header in the file (so ranges, overlaps and overflow are
// exercised against any size), then the header's JSON text.
#include "fuzz_util.h"
#include "lvlm_probe/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t data_size = 0;
  for (int i = 7; i >= 0; --i) data_size = (data_size << 8) | data[i];
  const std::string_view header = lvlm::fuzz::as_view(data + 8, size - 8);
  lvlm::fuzz::expect_only_lvlm_errors([&] {
    std::map<std::string, std::string> metadata;
    auto entries = lvlm::parse_safetensors_header(header, data_size, "fuzz.safetensors", &metadata);
    // What the parser promises: every entry lies inside the data, its size matches its shape.
    for (const auto& e : entries) {
      uint64_t bytes = lvlm::dtype_size(e.dtype);
      for (int64_t d : e.shape) bytes *= static_cast<uint64_t>(d);
      if (e.end > data_size || e.begin > e.end || e.end - e.begin != bytes) std::abort();
      (void)lvlm::shape_string(e.shape);
    }
  });
  return 0;
}
