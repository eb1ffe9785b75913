// Whether a checkpoint's weights fit in the memory this process may still take, asked before a
// model is loaded: converting 26 GiB of weights on a 24 GiB machine ends with the kernel killing
// the process minutes later, with no word of why.
#include "lvlm_probe/checkpoint.h"

namespace lvlm {
namespace {

std::string footprint_text(const WeightStore::Footprint& f) {
  if (f.copied == 0) return size_text(f.mapped) + " mapped from the files";
  if (f.mapped == 0) return size_text(f.copied) + " in memory";
  return size_text(f.copied) + " in memory and " + size_text(f.mapped) + " mapped from the files";
}

}  // namespace

std::string check_weights_fit(const WeightStore& store, const DtypeChoice& compute, const MemoryRoom& room,
                              const std::vector<DtypeChoice>& others) {
  const WeightStore::Footprint need = store.footprint(compute.dtype);
  const std::string free_text = size_text(room.bytes) + " of memory free (" + room.source + ")";
  if (need.copied > room.bytes) {
    std::string instead;
    for (const auto& other : others) {
      if (other.dtype == compute.dtype) continue;
      const WeightStore::Footprint f = store.footprint(other.dtype);
      if (f.copied > room.bytes) continue;
      instead += (instead.empty() ? "" : "; ") + other.flags + " takes " + footprint_text(f);
      if (f.copied + f.mapped > room.bytes) instead += " (more than is free: pages read from disk again and again, slow)";
    }
    throw RuntimeFailure(store.dir() + ": the weights (" + store.dtype_names() + " on disk) take " +
                         size_text(need.copied) + " of memory as " + compute.flags + ", and there is " + free_text +
                         "; " +
                         (instead.empty() ? "no compute dtype fits: use a machine or job with more memory"
                                          : "instead, " + instead));
  }
  if (need.copied + need.mapped > room.bytes)
    return "the weights take " + footprint_text(need) + " as " + compute.flags + ", more than the " + free_text +
           ": their pages will be read from disk again and again, which makes a run many times slower";
  return "";
}

}  // namespace lvlm
