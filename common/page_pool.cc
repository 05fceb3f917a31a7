#include "common/page_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace dn {

namespace {

size_t PageRound(size_t n) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (std::max<size_t>(n, 1) + page - 1) / page * page;
}

void Unmap(const std::vector<PagePool::Mapping>& ms) {
  for (const PagePool::Mapping& m : ms) munmap(m.data, m.size);
}

}  // namespace

PagePool& PagePool::Global() {
  // Leaked on purpose: buffers owned by static objects may be released after exit()
  // starts destroying statics.
  static PagePool* pool = new PagePool();
  return *pool;
}

PagePool::~PagePool() { Trim(0); }

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
  // MAP_POPULATE: the kernel provides every page in one call instead of one fault per
  // 4 KiB page as the filling loop first touches it.
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return {};
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
    auto oldest = std::min_element(free_.begin(), free_.end(),
                                   [](const auto& a, const auto& b) { return a.second.order < b.second.order; });
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
