#include <cstdlib>

#include "commands.h"
#include "lvlm_probe/common.h"

namespace lvlm::cli {

std::string shipped_path(const std::string& relative) {
  if (const char* root = std::getenv("LVLM_PROBE_DATA")) return join_path(root, relative);
  return join_path(LVLM_SOURCE_DIR, relative);
}

void require_output_dir(const std::string& path) {
  if (path.empty() || path == "-") return;
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (!is_directory(dir)) throw InputError(path, "cannot be written: directory " + dir + " does not exist");
}

}  // namespace lvlm::cli
