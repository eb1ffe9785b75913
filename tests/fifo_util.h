// A FIFO for tests of readers that must refuse it. Its writer thread waits for a reader, writes
// `content` and closes, so a reader that (wrongly) opens and reads it gets `content` and EOF: the
// test then fails on its assertions instead of hanging. The destructor releases a writer that no
// reader ever met.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>

namespace lvlm::test {

class Fifo {
 public:
  Fifo(std::string path, std::string content) : path_(std::move(path)) {
    if (::mkfifo(path_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed: " + path_);
    content.resize(std::min<size_t>(content.size(), 1 << 16));  // fits the pipe buffer: never blocks
    writer_ = std::thread([this, content = std::move(content)] {
      sigset_t pipe;  // a reader that closes early makes write() fail with EPIPE, not kill the test
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      const int fd = ::open(path_.c_str(), O_WRONLY);
      if (fd < 0) return;
      for (size_t done = 0; done < content.size();) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      ::close(fd);
    });
  }
  ~Fifo() {
    const int reader = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK);  // lets a waiting writer open
    writer_.join();
    if (reader >= 0) ::close(reader);
  }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::thread writer_;
};

}  // namespace lvlm::test
