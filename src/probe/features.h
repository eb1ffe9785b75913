// --dump-features: the residual-stream vectors behind the feature metrics, for t-SNE/PCA and
// cross-image comparisons outside lvlm-probe.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "lvlm_probe/probe.h"

namespace lvlm {

// One float32 tensor per generated token, "token.{step}" of shape [L+1, hidden] (row l = layer l),
// plus metadata: token ids, positions and the layer-to-tap mapping.
void write_features(const std::string& path, const ProbeResult& result, const std::vector<at::Tensor>& hidden);

}  // namespace lvlm
