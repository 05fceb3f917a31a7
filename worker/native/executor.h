#pragma once

#include <functional>
#include <memory>

namespace dn::native {

/// Runs native tasks on a TBB arena of `threads` threads (the worker's --nthreads), so
/// that the kernels' own parallel loops share those threads and several workers on one
/// machine do not oversubscribe its cores. Post() may be called from any thread.
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
