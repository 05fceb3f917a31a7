#include "common/page_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "common/buffer.h"

namespace dn {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// Pages of `m` not in memory (mincore), before anything has written to them.
size_t NonResidentPages(const PagePool::Mapping& m) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((m.size + page - 1) / page);
  if (mincore(m.data, m.size, resident.data()) != 0) return resident.size();
  size_t missing = 0;
  for (unsigned char r : resident) missing += (r & 1) ? 0 : 1;
  return missing;
}

TEST(PagePoolTest, ReusesAReleasedMappingOfAboutTheSameSize) {
  PagePool pool(64 * kMiB);
  PagePool::Mapping a = pool.Acquire(8 * kMiB);
  ASSERT_NE(a.data, nullptr);
  std::memset(a.data, 7, 8 * kMiB);
  pool.Release(a);
  EXPECT_EQ(pool.pooled_bytes(), 8 * kMiB);

  // A request up to 1/8 smaller takes it; the pages are still mapped and writable.
  PagePool::Mapping b = pool.Acquire(8 * kMiB - 100'000);
  EXPECT_EQ(b.data, a.data);
  EXPECT_EQ(b.size, 8 * kMiB);
  EXPECT_EQ(pool.pooled_bytes(), 0u);
  EXPECT_EQ(pool.hits(), 1u);
  EXPECT_EQ(pool.misses(), 1u);
  std::memset(b.data, 1, b.size);
  pool.Release(b);

  // Much smaller or larger requests get their own mappings.
  PagePool::Mapping small = pool.Acquire(4 * kMiB);
  PagePool::Mapping large = pool.Acquire(9 * kMiB + 1);
  EXPECT_NE(small.data, a.data);
  EXPECT_NE(large.data, a.data);
  EXPECT_EQ(large.size % 4096, 0u);
  EXPECT_GE(large.size, 9 * kMiB + 1);
  EXPECT_EQ(pool.misses(), 3u);
  pool.Release(small);
  pool.Release(large);
}

TEST(PagePoolTest, CapacityEvictsTheLongestParked) {
  PagePool pool(20 * kMiB);
  PagePool::Mapping a = pool.Acquire(8 * kMiB);
  PagePool::Mapping b = pool.Acquire(8 * kMiB);
  PagePool::Mapping c = pool.Acquire(8 * kMiB);
  pool.Release(a);
  pool.Release(b);
  pool.Release(c);  // a goes back to the system to make room
  EXPECT_EQ(pool.pooled_bytes(), 16 * kMiB);
  PagePool::Mapping x = pool.Acquire(8 * kMiB);
  PagePool::Mapping y = pool.Acquire(8 * kMiB);
  EXPECT_TRUE((x.data == b.data && y.data == c.data) || (x.data == c.data && y.data == b.data));
  pool.Release(x);
  pool.Release(y);

  PagePool::Mapping huge = pool.Acquire(32 * kMiB);  // above the capacity: never pooled
  pool.Release(huge);
  EXPECT_EQ(pool.pooled_bytes(), 16 * kMiB);
}

TEST(PagePoolTest, TrimAndIdleTrimAndZeroCapacity) {
  PagePool pool(64 * kMiB);
  pool.Release(pool.Acquire(8 * kMiB));
  pool.Release(pool.Acquire(16 * kMiB));
  EXPECT_EQ(pool.Trim(16 * kMiB), 8 * kMiB);  // the 8 MiB one was parked first
  EXPECT_EQ(pool.TrimIdle(std::chrono::hours(1)), 0u);
  EXPECT_EQ(pool.TrimIdle(std::chrono::nanoseconds(0)), 16 * kMiB);
  EXPECT_EQ(pool.pooled_bytes(), 0u);

  pool.SetCapacity(0);
  pool.Release(pool.Acquire(8 * kMiB));
  EXPECT_EQ(pool.pooled_bytes(), 0u);
}

TEST(PagePoolTest, LargeBuffersGoThroughTheGlobalPool) {
  PagePool& pool = PagePool::Global();
  pool.SetCapacity(64 * kMiB);
  const uint8_t* first = nullptr;
  {
    uint8_t* out = nullptr;
    Buffer b = Buffer::Allocate(5 * kMiB, &out);
    std::memset(out, 3, b.size());
    first = b.data();
  }
  EXPECT_EQ(pool.pooled_bytes(), 5 * kMiB);
  uint8_t* out = nullptr;
  Buffer again = Buffer::Allocate(5 * kMiB, &out);
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(again.size(), 5 * kMiB);
  pool.SetCapacity(0);
}

TEST(PagePoolTest, MissesPopulatedByHelperThreadsAreWholeAndWritable) {
  PagePool pool(256 * kMiB);
  pool.SetPopulateThreads(3);
  // Sizes that are not a multiple of the 2 MiB step, and several misses at once: the
  // ones that find the helpers busy populate on their own thread.
  std::vector<std::thread> threads;
  std::vector<PagePool::Mapping> got(6);
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] { got[i] = pool.Acquire((5 + i) * kMiB + 12345); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NE(got[i].data, nullptr);
    ASSERT_GE(got[i].size, (5 + i) * kMiB + 12345);
    // Every page is resident before anything writes to it: populated up front.
    EXPECT_EQ(NonResidentPages(got[i]), 0u) << "mapping " << i;
    auto* bytes = static_cast<unsigned char*>(got[i].data);
    EXPECT_EQ(bytes[0], 0);  // fresh anonymous pages read as zero
    EXPECT_EQ(bytes[got[i].size - 1], 0);
    std::memset(bytes, static_cast<int>(i + 1), got[i].size);
    EXPECT_EQ(bytes[got[i].size / 2], i + 1);
  }
  EXPECT_EQ(pool.misses(), got.size());
  for (PagePool::Mapping& m : got) pool.Release(m);
  pool.SetPopulateThreads(1);  // stops the helpers; the caller populates alone
  PagePool::Mapping m = pool.Acquire(3 * kMiB);
  ASSERT_NE(m.data, nullptr);
  EXPECT_EQ(NonResidentPages(m), 0u);
  pool.Release(m);
}

}  // namespace
}  // namespace dn
