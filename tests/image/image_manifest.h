// tests/data/images/manifest.json (scripts/reference/make_image_refs.py): the decode, resize and
// preprocessing references, read once per test binary.
#pragma once

#include "lvlm_probe/json.h"
#include "test_util.h"

namespace lvlm::test {

inline const Json& image_manifest() {
  static const Json m = read_json_file(data_path("images/manifest.json"));
  return m;
}

}  // namespace lvlm::test
