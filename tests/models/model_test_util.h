// Shared by the model tests: run a checkpoint on stored pixel values and capture the residual
// stream of chosen positions at every layer.
#pragma once

#include <ATen/ATen.h>

#include <map>

#include "lvlm_probe/json.h"
#include "lvlm_probe/models.h"
#include "models/layers.h"
#include "test_util.h"

namespace lvlm::test {

// Captures layers 0..L at fixed absolute positions during the prefill only.
class CaptureObserver : public HiddenStateObserver {
 public:
  explicit CaptureObserver(std::vector<int64_t> positions) : positions_(std::move(positions)) {}
  std::vector<int64_t> positions_wanted(int64_t first, int64_t) override {
    return first == 0 ? positions_ : std::vector<int64_t>{};
  }
  void on_residual(const std::string& tap, int layer, const std::vector<int64_t>&, const at::Tensor& h) override {
    EXPECT_EQ(tap, resid_tap_name(layer));
    layers[layer] = h.to(at::kFloat).clone();
  }
  std::map<int, at::Tensor> layers;  // layer -> [positions, hidden]

 private:
  std::vector<int64_t> positions_;
};

inline at::Tensor load_pixels(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  return tensor_from_view(file->tensors().at(0)).clone();
}

// Relative L2 difference and max-abs difference against a {"first": [...], "l2": x} summary.
inline void expect_summary(const at::Tensor& t, const Json& ref, double rel_tol, const std::string& what) {
  at::Tensor flat = t.to(at::kDouble).flatten();
  const double l2 = flat.norm().item<double>();
  EXPECT_NEAR(l2, ref["l2"].get<double>(), rel_tol * ref["l2"].get<double>()) << what;
  const auto& first = ref["first"];
  for (size_t i = 0; i < first.size(); ++i)
    EXPECT_NEAR(flat[static_cast<int64_t>(i)].item<double>(), first[i].get<double>(),
                rel_tol * std::max(1.0, std::fabs(first[i].get<double>())) + 1e-6)
        << what << " element " << i;
}

}  // namespace lvlm::test
