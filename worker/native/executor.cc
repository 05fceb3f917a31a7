#include "worker/native/executor.h"

#include <tbb/task_arena.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace dn::native {

// Jobs wait on a condition variable in threads of our own, and each runs inside a TBB
// arena of `threads` slots, one of them reserved for the job's thread. Posting jobs to
// TBB directly (task_arena::enqueue) worked, but TBB's threads spin for a while after
// every job looking for the next: with thousands of millisecond tasks a second they
// never slept, and on a machine shared by several workers and the scheduler that
// spinning took a tenth of everyone's CPU. Now TBB threads exist only to help a job's
// parallel loops (none at all for one thread, the usual worker), and an idle worker
// sleeps.
struct NativeExecutor::Impl {
  explicit Impl(int threads) : arena(threads, /*reserved_for_masters=*/1) {}

  void Loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return stopping || !jobs.empty(); });
        if (jobs.empty()) return;  // stopping, and every posted job has run
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      // With the reserved slot taken by another thread, TBB runs the job on one of
      // the arena's threads and this one waits: at most `threads` jobs at once.
      arena.execute(job);
    }
  }

  tbb::task_arena arena;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  std::vector<std::thread> threads;
};

NativeExecutor::NativeExecutor(int threads) : threads_(std::max(1, threads)) {
  impl_ = std::make_unique<Impl>(threads_);
  for (int i = 0; i < threads_; ++i)
    impl_->threads.emplace_back([impl = impl_.get()] { impl->Loop(); });
}

NativeExecutor::~NativeExecutor() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (std::thread& t : impl_->threads) t.join();
}

void NativeExecutor::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->jobs.push_back(std::move(job));
  }
  impl_->cv.notify_one();
}

}  // namespace dn::native
