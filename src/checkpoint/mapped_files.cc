#include "mapped_files.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace lvlm::checkpoint {
namespace {

// A fixed table the signal handler can read without locks or allocation: `begin` is published
// last (release) and cleared first, so a slot the handler sees non-zero is complete.
constexpr size_t kSlots = 1024;        // shards of the largest checkpoints number in the hundreds
constexpr size_t kPathBytes = 1024;   // longer paths are cut in the message
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<size_t> size{0};
  char path[kPathBytes];
};
Slot slots[kSlots];
std::mutex writers;  // registration only; the handler never takes it
struct sigaction previous;

void write_all(const char* s, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w, n -= static_cast<size_t>(w);
  }
}

// Async-signal-safe: atomics, write(2) and _exit(2) only.
void on_bus_error(int sig, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const Slot& slot : slots) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    if (begin == 0 || address < begin || address - begin >= slot.size.load(std::memory_order_relaxed)) continue;
    static const char kPrefix[] = "error: ";
    static const char kProblem[] = ": truncated while in use (bus error reading the memory-mapped weights)\n";
    write_all(kPrefix, sizeof kPrefix - 1);
    write_all(slot.path, ::strnlen(slot.path, kPathBytes));
    write_all(kProblem, sizeof kProblem - 1);
    ::_exit(3);
  }
  // Not one of ours: hand over to whoever handled SIGBUS before (the default: terminate).
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) return previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    return previous.sa_handler(sig);
  }
  ::signal(SIGBUS, SIG_DFL);  // returning re-runs the faulting access, which now terminates
}

void install_handler() {
  struct sigaction action {};
  action.sa_sigaction = on_bus_error;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous);
}

}  // namespace

void register_mapping(const void* begin, size_t size, const std::string& path) {
  static std::once_flag installed;
  std::call_once(installed, install_handler);
  std::lock_guard<std::mutex> lock(writers);
  for (Slot& slot : slots) {
    if (slot.begin.load(std::memory_order_relaxed) != 0) continue;
    const size_t n = std::min(path.size(), kPathBytes - 1);
    std::memcpy(slot.path, path.data(), n);
    slot.path[n] = '\0';
    slot.size.store(size, std::memory_order_relaxed);
    slot.begin.store(reinterpret_cast<uintptr_t>(begin), std::memory_order_release);
    return;
  }
  // Table full: such a fault still ends the process, as a plain bus error.
}

void unregister_mapping(const void* begin) {
  std::lock_guard<std::mutex> lock(writers);
  for (Slot& slot : slots)
    if (slot.begin.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(begin))
      slot.begin.store(0, std::memory_order_release);
}

}  // namespace lvlm::checkpoint
