#include <cstdlib>

#include "commands.h"
#include "lvlm_probe/common.h"

namespace lvlm::cli {

std::string shipped_path(const std::string& relative) {
  if (const char* root = std::getenv("LVLM_PROBE_DATA")) return join_path(root, relative);
  return join_path(LVLM_SOURCE_DIR, relative);
}

}  // namespace lvlm::cli
