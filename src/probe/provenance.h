// What a report needs to be reproduced besides its options: the software and hardware that made
// the numbers, and hashes of the model's files. Collected here, where libtorch is linked; the
// report module receives plain strings.
#pragma once

#include <string>

#include "lvlm_probe/probe.h"

namespace lvlm {

Provenance collect_provenance(const std::string& model_dir, const ModelInfo& model);

}  // namespace lvlm
