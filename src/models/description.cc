#include "description.h"

#include <cstdio>

namespace lvlm {

std::string count_text(uint64_t n) {
  char buf[64];
  const double x = static_cast<double>(n);
  if (n >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.3f B (%llu)", x / 1e9, static_cast<unsigned long long>(n));
  else if (n >= 1000000ull) std::snprintf(buf, sizeof buf, "%.3f M (%llu)", x / 1e6, static_cast<unsigned long long>(n));
  else if (n >= 1000ull) std::snprintf(buf, sizeof buf, "%.3f K (%llu)", x / 1e3, static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}

uint64_t working_bytes(const TextConfig& t, uint64_t element) {
  const uint64_t kv = 2ull * t.num_hidden_layers * t.num_key_value_heads * t.head_dim * t.max_position_embeddings * element;
  const uint64_t lens = 6ull * (t.num_hidden_layers + 1) * t.vocab_size * 8;
  return kv + lens;
}

OrderedJson stored_dtypes(const WeightStore& store, uint64_t* total) {
  OrderedJson dtypes = OrderedJson::object();
  *total = 0;
  for (const auto& [dtype, bytes] : store.bytes_by_dtype()) {
    dtypes[dtype_name(dtype)] = bytes;
    *total += bytes;
  }
  return dtypes;
}

}  // namespace lvlm
