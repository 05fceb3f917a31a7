#include "worker/native/executor.h"

#include <gtest/gtest.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace dn::native {
namespace {

TEST(NativeExecutorTest, RunsEveryJobWithAtMostItsThreadsAtOnce) {
  for (int threads : {1, 2, 3}) {
    std::atomic<int> running{0}, peak{0}, done{0}, concurrency{0};
    {
      NativeExecutor ex(threads);
      for (int i = 0; i < 40; ++i) {
        ex.Post([&] {
          int now = ++running;
          int p = peak.load();
          while (now > p && !peak.compare_exchange_weak(p, now)) {
          }
          concurrency = tbb::this_task_arena::max_concurrency();
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          --running;
          ++done;
        });
      }
    }  // the destructor waits for the posted jobs
    EXPECT_EQ(done.load(), 40);
    EXPECT_LE(peak.load(), threads);
    EXPECT_EQ(concurrency.load(), threads);  // kernels' loops see the worker's threads
  }
}

TEST(NativeExecutorTest, ParallelLoopsInsideAJobUseTheArena) {
  NativeExecutor ex(2);
  std::atomic<int64_t> sum{0};
  std::atomic<bool> finished{false};
  ex.Post([&] {
    tbb::parallel_for(0, 100000, [&](int i) { sum += i; });
    finished = true;
  });
  while (!finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(sum.load(), int64_t{100000} * 99999 / 2);
}

}  // namespace
}  // namespace dn::native
