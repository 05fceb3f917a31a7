#pragma once

#include <functional>
#include <memory>

namespace dn::native {

/// Runs native tasks on `threads` threads (the worker's --nthreads, capped by its CPU
/// limit), each task inside one TBB arena of that many slots, so the kernels' own
/// parallel loops share those threads and several workers on one machine do not
/// oversubscribe its cores. An idle executor sleeps. Post() may be called from any
/// thread; jobs start in the order posted.
class NativeExecutor {
 public:
  explicit NativeExecutor(int threads);
  ~NativeExecutor();  ///< waits for the jobs already posted
  NativeExecutor(const NativeExecutor&) = delete;
  NativeExecutor& operator=(const NativeExecutor&) = delete;

  void Post(std::function<void()> job);
  int threads() const { return threads_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int threads_;
};

}  // namespace dn::native
