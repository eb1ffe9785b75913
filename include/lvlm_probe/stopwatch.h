// Elapsed wall-clock time on the monotonic clock: every phase time that reports, progress lines
// and `bench` print is measured with it.
#pragma once

#include <chrono>

namespace lvlm {

class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  void restart() { start_ = Clock::now(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
};

}  // namespace lvlm
