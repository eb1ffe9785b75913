// Shared by the fuzz targets: the library reports bad input with lvlm::Error (InputError,
// UsageError, ...), which is the expected outcome for most inputs. Anything else escaping a
// parser (std::out_of_range from .at(), nlohmann::json::type_error, ...) is a bug: it would reach
// main() as exit 4 with a confusing message instead of exit 3 naming the file. Such exceptions
// abort here so that libFuzzer reports them as crashes with the input that caused them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "lvlm_probe/common.h"

namespace lvlm::fuzz {

template <typename F>
void expect_only_lvlm_errors(F&& body) {
  try {
    body();
  } catch (const lvlm::Error&) {
    // Rejected with a typed error: fine.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "untyped exception escaped: %s\n", e.what());
    std::abort();
  }
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace lvlm::fuzz
