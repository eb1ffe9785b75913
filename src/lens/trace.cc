#include "lvlm_probe/trace.h"

#include "lvlm_probe/common.h"

namespace lvlm {

const char* lens_mode_name(LensMode mode) {
  switch (mode) {
    case LensMode::norm: return "norm";
    case LensMode::raw: return "raw";
    case LensMode::hf: return "hf";
  }
  return "?";
}

const char* divergence_name(Divergence measure) { return measure == Divergence::jsd ? "jsd" : "dola"; }

LensMode parse_lens_mode(const std::string& name) {
  if (name == "norm") return LensMode::norm;
  if (name == "raw") return LensMode::raw;
  if (name == "hf") return LensMode::hf;
  throw UsageError("--lens: '" + name + "' is not one of norm, raw, hf");
}

Divergence parse_divergence(const std::string& name) {
  if (name == "jsd") return Divergence::jsd;
  if (name == "dola") return Divergence::dola;
  throw UsageError("--js: '" + name + "' is not one of jsd, dola");
}

}  // namespace lvlm
