#include "features.h"

#include <algorithm>

#include "lvlm_probe/checkpoint.h"
#include "lvlm_probe/device_path.h"
#include "lvlm_probe/json.h"

namespace lvlm {

void write_features(const std::string& path, const ProbeResult& result, const std::vector<at::Tensor>& hidden) {
  std::vector<at::Tensor> contiguous;
  std::vector<TensorToWrite> tensors;
  Json steps = Json::array();
  const std::vector<int>& only = result.request.dump_steps;
  contiguous.reserve(hidden.size());  // tensors[] points into these
  for (size_t i = 0; i < hidden.size(); ++i) {
    if (!only.empty() && std::find(only.begin(), only.end(), static_cast<int>(i)) == only.end()) continue;
    contiguous.push_back(to_host(hidden[i].to(at::kFloat), SyncSite::features).contiguous());
    DType dtype = DType::F32;
    // Float16 halves the disk a batch needs; a step with a value beyond its range stays float32.
    if (result.request.dump_f16 && *contiguous.back().abs().max().data_ptr<float>() <= 65504.0f) {
      contiguous.back() = contiguous.back().to(at::kHalf).contiguous();
      dtype = DType::F16;
    }
    const at::Tensor& t = contiguous.back();
    tensors.push_back({"token." + std::to_string(i), dtype, {t.size(0), t.size(1)},
                       std::string_view(static_cast<const char*>(t.data_ptr()), t.nbytes())});
    steps.push_back({{"step", i}, {"token_id", result.tokens[i].token_id}, {"position", result.tokens[i].position}});
  }
  std::map<std::string, std::string> metadata = {
      {"format", "lvlm-probe/features/1"},
      {"rows", "layer 0 (embeddings, blocks.0.hook_resid_pre) .. layer L (blocks.{L-1}.hook_resid_post)"},
      {"tokens", steps.dump()},
      {"image_sha256", result.image_sha256},
  };
  write_safetensors(path, tensors, metadata);
}

}  // namespace lvlm
