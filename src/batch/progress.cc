#include "progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace lvlm::batch {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  return buf;
}

Progress::Progress(size_t total, size_t done, double log_interval_seconds)
    : tty_(::isatty(STDERR_FILENO) == 1), total_(total), done_(done), interval_(log_interval_seconds),
      start_(Clock::now()), last_line_(start_) {}

std::string Progress::status() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(fresh_) / elapsed : 0;
  const size_t left = total_ - std::min(total_, done_);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%zu/%zu items%s, %.2f items/s, ETA %s", done_, total_,
                failed_ ? (" (" + std::to_string(failed_) + " failed)").c_str() : "", rate,
                rate > 0 ? format_duration(static_cast<double>(left) / rate).c_str() : "?");
  return buf;
}

void Progress::draw() {
  constexpr int kWidth = 30;
  const int filled = total_ ? static_cast<int>(kWidth * std::min(done_, total_) / total_) : kWidth;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  std::fprintf(stderr, "\r[%s] %s\x1b[K", bar.c_str(), status().c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::item_finished(bool ok) {
  ++done_;
  ++fresh_;
  failed_ += ok ? 0 : 1;
  if (tty_) return draw();
  const auto now = Clock::now();
  if (fresh_ == 1 || std::chrono::duration<double>(now - last_line_).count() >= interval_) {
    spdlog::info("{}", status());
    last_line_ = now;
  }
}

void Progress::clear() {
  if (tty_ && drawn_) std::fprintf(stderr, "\r\x1b[K");
  drawn_ = false;
}

void Progress::finish() {
  if (tty_ && drawn_) std::fprintf(stderr, "\n");
  else if (!tty_ && fresh_ > 1) spdlog::info("{}", status());
  drawn_ = false;
}

}  // namespace lvlm::batch
