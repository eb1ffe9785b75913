// Inside the batch module: progress on stderr. A redrawn bar when stderr is a terminal
// (done/total, items/s, ETA); otherwise a plain log line every few seconds, which reads well in
// a Slurm log file.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace lvlm::batch {

class Progress {
 public:
  // `total`: items of the shard; `done`: of those, finished by earlier runs.
  Progress(size_t total, size_t done, double log_interval_seconds);
  void item_finished(bool ok);
  // Erases the bar so that a log line can be printed; the next update redraws it.
  void clear();
  void finish();

 private:
  std::string status() const;  // "120/1004 items (3 failed), 2.31 items/s, ETA 6m22s"
  void draw();

  using Clock = std::chrono::steady_clock;
  bool tty_;
  size_t total_, done_, fresh_ = 0, failed_ = 0;
  double interval_;
  Clock::time_point start_, last_line_;
  bool drawn_ = false;
};

std::string format_duration(double seconds);  // "45s", "6m22s", "3h05m"

}  // namespace lvlm::batch
