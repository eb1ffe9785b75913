// Pieces every family's `inspect` description uses (ModelFamily::describe). Torch-free.
#pragma once

#include <cstdint>
#include <string>

#include "block_configs.h"
#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/json.h"
#include "lvlm_probe/memory.h"  // size_text

namespace lvlm {

// A parameter count as "7.063 B (7062886400)", "1.25 M (1250000)", "812": a round figure with
// the exact count beside it.
std::string count_text(uint64_t n);
// Bytes a probe needs beyond the weights: KV cache for the whole context in the compute dtype,
// and the lens' float64 [L+1, vocab] working set (a handful of such arrays per step).
uint64_t working_bytes(const TextConfig& text, uint64_t element);
// Bytes on disk per stored dtype ({"F32": 1234, ...}); `total` receives their sum.
OrderedJson stored_dtypes(const WeightStore& store, uint64_t* total);

}  // namespace lvlm
