#include "worker/native/pairwise_sum.h"

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <cstring>
#include <random>
#include <vector>

namespace dn::native {
namespace {

// numpy's DOUBLE_pairwise_sum written plainly, one addition at a time.
double Reference(const double* a, int64_t n) {
  if (n < 8) {
    double res = -0.0;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - n % 8; i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return Reference(a, n2) + Reference(a + n2, n - n2);
}

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Values of mixed magnitude and sign make every change of order visible.
std::vector<double> MixedMagnitudes(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mant(-1, 1);
  std::uniform_int_distribution<int> expo(-30, 30);
  std::vector<double> a(4'000'037);
  for (double& v : a) v = std::ldexp(mant(rng), expo(rng));
  return a;
}

TEST(PairwiseSumTest, SameBitsAsNumpysRecursionForEverySizeShape) {
  const std::vector<double> a = MixedMagnitudes(5);
  std::vector<int64_t> sizes;
  for (int64_t n = 0; n <= 600; ++n) sizes.push_back(n);
  for (int64_t n : {1000, 4095, 65536, 524287, 524288, 1'048'583, 4'000'000, 4'000'037})
    sizes.push_back(n);
  for (SumKernel k : {SumKernel::kBaseline, SumKernel::kAvx2, SumKernel::kAvx512}) {
    if (!SumKernelSupported(k)) continue;
    for (int64_t n : sizes) {
      for (int64_t offset : {0, 1, 3}) {  // unaligned starts too
        if (offset + n > static_cast<int64_t>(a.size())) continue;
        ASSERT_EQ(Bits(PairwiseSumContiguous(a.data() + offset, n, k)),
                  Bits(Reference(a.data() + offset, n)))
            << "n=" << n << " offset=" << offset << " kernel=" << static_cast<int>(k);
      }
    }
  }
}

// A worker's usual executor is an arena of one thread: no parallel halves, so the
// lockstep streams start at the top of the recursion.
TEST(PairwiseSumTest, SameBitsOnAOneThreadArena) {
  const std::vector<double> a = MixedMagnitudes(7);
  tbb::task_arena one(1);
  one.execute([&] {
    // Equal quarters (4,000,000; 65,536), equal halves only (2000 * 1000 + 16), neither at the top
    // (4,000,037).
    for (int64_t n : {32'768, 65'536, 2'000'016, 4'000'000, 4'000'037}) {
      for (SumKernel k : {SumKernel::kBaseline, SumKernel::kAvx2, SumKernel::kAvx512}) {
        if (!SumKernelSupported(k)) continue;
        ASSERT_EQ(Bits(PairwiseSumContiguous(a.data(), n, k)), Bits(Reference(a.data(), n)))
            << "n=" << n << " kernel=" << static_cast<int>(k);
      }
    }
  });
}

TEST(PairwiseSumTest, SignedZerosAndInfinities) {
  std::vector<double> z(300, -0.0);
  for (int64_t n : {0, 1, 7, 8, 129, 300}) {
    EXPECT_EQ(Bits(PairwiseSumContiguous(z.data(), n)), Bits(Reference(z.data(), n))) << n;
  }
  std::vector<double> inf(1000, 1.0);
  inf[17] = INFINITY;
  EXPECT_EQ(PairwiseSumContiguous(inf.data(), 1000), INFINITY);
}

}  // namespace
}  // namespace dn::native
