#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace dn {

/// Keep the pages of freed large buffers (array chunks) mapped, for the next chunk.
///
/// On the VMs this product runs on, a page that went back to the host faults in at
/// about 0.5-3.5 GB/s, while a page the process still maps is written at memory speed
/// (shared/docs/performance.md). Mapping a fresh 32 MB chunk cost more than generating
/// its random numbers. So a freed mapping is parked here, and Acquire() hands it out
/// again to a request of about its size. The pool is bounded by a capacity and gives
/// mappings back to the system when they sit idle, or when the worker's memory monitor
/// asks (Trim): pooled bytes are memory the worker can drop at once, so they must never
/// be what pushes it into spilling or pausing.
///
/// glibc's malloc cannot be tuned into this: its mmap threshold caps at 32 MiB, and a
/// heap arena fragments under a mix of 32 MB chunks and small objects. Thread-safe.
class PagePool {
 public:
  /// A mapping of `size` bytes (the caller may use `requested` of them).
  struct Mapping {
    void* data = nullptr;
    size_t size = 0;
  };

  /// The process's pool. Its capacity starts at 0 (no pooling) until a process that
  /// benefits from it, the worker, sets one.
  static PagePool& Global();

  explicit PagePool(size_t capacity = 0);
  ~PagePool();
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  /// Return a writable mapping of at least `requested` bytes: a pooled one no more
  /// than 1/8 larger, else a new one whose pages are populated up front. Fails (data
  /// null) only when the system refuses the mapping.
  Mapping Acquire(size_t requested);

  /// Give back a mapping from Acquire(). It is pooled if it fits under the capacity,
  /// evicting the least recently pooled ones, else unmapped.
  void Release(Mapping m);

  /// Unmap pooled mappings, least recently pooled first, until at most `keep_bytes`
  /// remain. Returns the bytes unmapped.
  size_t Trim(size_t keep_bytes);

  /// Unmap the mappings pooled longer than `max_idle` ago. Returns the bytes unmapped.
  size_t TrimIdle(std::chrono::steady_clock::duration max_idle);

  void SetCapacity(size_t bytes);

  /// Populate each new mapping from up to `threads` threads: the caller and
  /// `threads - 1` helper threads, which sleep between misses. On a VM whose fresh pages
  /// fault in from the host (~0.4-0.5 GB/s per vCPU on the benchmark VM:
  /// shared/docs/performance.md, bench/RESULTS.md), a miss is ~85 ms per 32 MB chunk,
  /// and the misses come at the end of a computation (the worker whose share grew past
  /// what its pool kept), when other cores are idle. Call before the first Acquire();
  /// 1 (the default) populates on the caller.
  void SetPopulateThreads(int threads);

  size_t capacity() const;
  size_t pooled_bytes() const;
  /// Acquire() calls served from the pool, and served by a new mapping.
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  using Clock = std::chrono::steady_clock;
  class Populator;
  struct Parked {
    void* data;
    Clock::time_point since;
    uint64_t order;  ///< pooling order, for least-recently-pooled eviction
  };

  /// Move parked mappings, longest-parked first, to `unmap` until at most
  /// `keep_bytes` remain pooled. Returns the bytes moved.
  size_t EvictLocked(size_t keep_bytes, std::vector<Mapping>* unmap);

  mutable std::mutex mu_;
  std::multimap<size_t, Parked> free_;  ///< by mapping size
  size_t capacity_;
  size_t pooled_bytes_ = 0;
  uint64_t next_order_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  std::unique_ptr<Populator> populator_;  ///< null: the caller populates alone
};

}  // namespace dn
