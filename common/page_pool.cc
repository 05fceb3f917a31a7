#include "common/page_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <thread>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

namespace dn {

namespace {

size_t PageRound(size_t n) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (std::max<size_t>(n, 1) + page - 1) / page * page;
}

void Unmap(const std::vector<PagePool::Mapping>& ms) {
  for (const PagePool::Mapping& m : ms) munmap(m.data, m.size);
}

// Populate in steps this large, so that several threads can share one mapping.
constexpr size_t kPopulateStep = size_t{2} << 20;

// Provide the pages of [p, p + n) for writing.
void Populate(char* p, size_t n) {
  if (madvise(p, n, MADV_POPULATE_WRITE) == 0) return;
  // Before Linux 5.14: a write per page faults each one in.
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < n; i += page) reinterpret_cast<volatile char*>(p)[i] = 0;
}

}  // namespace

// Helper threads that populate a new mapping together with the thread that asked for
// it, 2 MiB at a time. One mapping at a time: a second miss meanwhile populates alone.
class PagePool::Populator {
 public:
  explicit Populator(int helpers) {
    for (int i = 0; i < helpers; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~Populator() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  void Run(char* p, size_t n) {
    auto job = std::make_shared<Job>(p, n);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (job_ != nullptr) {  // busy with another mapping
        job = nullptr;
      } else {
        job_ = job;
      }
    }
    if (job == nullptr) {
      Populate(p, n);
      return;
    }
    cv_.notify_all();
    Work(*job);
    std::unique_lock<std::mutex> lock(mu_);
    job_ = nullptr;  // no helper takes a step of it any more
    // Every step is taken; wait for the helpers still populating theirs.
    done_cv_.wait(lock, [&] { return job->done == job->steps; });
  }

 private:
  struct Job {
    Job(char* p, size_t n) : base(p), size(n), steps((n + kPopulateStep - 1) / kPopulateStep) {}
    char* const base;
    const size_t size;
    const size_t steps;
    std::atomic<size_t> next{0};  ///< the next step to take
    size_t done = 0;              ///< steps finished (guarded by Populator::mu_)
  };

  // Take steps of `job` until none is left.
  void Work(Job& job) {
    size_t finished = 0;
    for (size_t i; (i = job.next.fetch_add(1)) < job.steps; ++finished) {
      size_t off = i * kPopulateStep;
      Populate(job.base + off, std::min(kPopulateStep, job.size - off));
    }
    std::lock_guard<std::mutex> lock(mu_);
    job.done += finished;
    if (job.done == job.steps) done_cv_.notify_all();
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stop_ || (job_ != nullptr && job_->next < job_->steps); });
      if (stop_) return;
      std::shared_ptr<Job> job = job_;
      lock.unlock();
      Work(*job);
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;       ///< a job was posted, or stop
  std::condition_variable done_cv_;  ///< a job's last step finished
  std::shared_ptr<Job> job_;         ///< the mapping being populated, if any
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

PagePool& PagePool::Global() {
  // Leaked on purpose: buffers owned by static objects may be released after exit()
  // starts destroying statics.
  static PagePool* pool = new PagePool();
  return *pool;
}

PagePool::PagePool(size_t capacity) : capacity_(capacity) {}

PagePool::~PagePool() { Trim(0); }

void PagePool::SetPopulateThreads(int threads) {
  populator_ = threads > 1 ? std::make_unique<Populator>(threads - 1) : nullptr;
}

PagePool::Mapping PagePool::Acquire(size_t requested) {
  const size_t size = PageRound(requested);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(size);
    // Best fit, wasting at most an eighth: chunks of one array share a few sizes.
    if (it != free_.end() && it->first <= size + size / 8) {
      Mapping m{it->second.data, it->first};
      pooled_bytes_ -= it->first;
      free_.erase(it);
      ++hits_;
      return m;
    }
    ++misses_;
  }
  // Populated up front: the kernel provides the pages in a few calls instead of one
  // fault per 4 KiB page as the filling loop first touches them.
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return {};
  if (populator_ != nullptr) {
    populator_->Run(static_cast<char*>(p), size);
  } else {
    Populate(static_cast<char*>(p), size);
  }
  return {p, size};
}

void PagePool::Release(Mapping m) {
  if (m.data == nullptr) return;
  std::vector<Mapping> unmap;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (m.size > capacity_) {
      unmap.push_back(m);
    } else {
      EvictLocked(capacity_ - m.size, &unmap);  // make room, longest-parked first
      free_.emplace(m.size, Parked{m.data, Clock::now(), next_order_++});
      pooled_bytes_ += m.size;
    }
  }
  Unmap(unmap);  // outside the lock: unmapping 32 MB takes milliseconds
}

size_t PagePool::Trim(size_t keep_bytes) {
  std::vector<Mapping> unmap;
  size_t freed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    freed = EvictLocked(keep_bytes, &unmap);
  }
  Unmap(unmap);
  return freed;
}

size_t PagePool::TrimIdle(Clock::duration max_idle) {
  std::vector<Mapping> unmap;
  size_t freed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::time_point cutoff = Clock::now() - max_idle;
    for (auto it = free_.begin(); it != free_.end();) {
      if (it->second.since < cutoff) {
        unmap.push_back({it->second.data, it->first});
        pooled_bytes_ -= it->first;
        freed += it->first;
        it = free_.erase(it);
      } else {
        ++it;
      }
    }
  }
  Unmap(unmap);
  return freed;
}

size_t PagePool::EvictLocked(size_t keep_bytes, std::vector<Mapping>* unmap) {
  size_t freed = 0;
  while (pooled_bytes_ > keep_bytes) {
    auto oldest = std::min_element(free_.begin(), free_.end(), [](const auto& a, const auto& b) {
      return a.second.order < b.second.order;
    });
    unmap->push_back({oldest->second.data, oldest->first});
    pooled_bytes_ -= oldest->first;
    freed += oldest->first;
    free_.erase(oldest);
  }
  return freed;
}

void PagePool::SetCapacity(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    capacity_ = bytes;
  }
  Trim(bytes);
}

size_t PagePool::capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return capacity_;
}

size_t PagePool::pooled_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pooled_bytes_;
}

uint64_t PagePool::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

uint64_t PagePool::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

}  // namespace dn
