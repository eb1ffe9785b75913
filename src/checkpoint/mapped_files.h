// Which file each memory-mapped address range belongs to, so that a bus error (SIGBUS: the file
// was truncated after it was mapped, and a page past its new end was touched) ends the process
// with one line naming the file instead of a bare signal.
#pragma once

#include <cstddef>
#include <string>

namespace lvlm::checkpoint {

// Records [begin, begin + size) as the mapping of `path` and, on the first call, installs the
// SIGBUS handler. A fault inside a recorded range prints
//   error: <path>: truncated while in use (bus error reading the memory-mapped weights)
// and exits with code 3 (bad input); any other SIGBUS goes to the handler that was there before.
void register_mapping(const void* begin, size_t size, const std::string& path);
void unregister_mapping(const void* begin);

}  // namespace lvlm::checkpoint
