// bench --floor's measurement (docs/performance.md, "Floors"): run in a child process of its own,
// which it sizes to `threads` first.
#pragma once

#include "lvlm_probe/bench.h"

namespace lvlm {

MachineFloors measure_floors(int threads);

}  // namespace lvlm
