#include "worker/native/pairwise_sum.h"

#include <tbb/parallel_invoke.h>

#include <algorithm>
#include <cstring>

namespace dn::native {
namespace {

constexpr int64_t kBlock = 128;             // numpy's PW_BLOCKSIZE
constexpr int64_t kParallelAbove = 1 << 19;  // 4 MB: below this a task split costs more

// numpy's r[0..7] as the lanes of one vector; GCC and Clang lower it to one zmm under
// AVX-512, two ymm under AVX2 and four xmm otherwise, always in registers.
using Lanes = double __attribute__((vector_size(64)));

#define DN_INLINE __attribute__((always_inline)) inline
// Lanes never cross a call boundary (every helper is inlined into a function compiled
// for one target), so GCC's note that a 64-byte vector argument's ABI differs between
// targets does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

DN_INLINE Lanes Load(const double* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// numpy's fold of the eight partial sums.
DN_INLINE double Fold(Lanes r) { return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])); }

DN_INLINE double Tail(double res, const double* a, int64_t from, int64_t n) {
  for (int64_t i = from; i < n; ++i) res += a[i];
  return res;
}

// Two blocks (8 <= n <= 128 each), interleaved: their adds are independent.
DN_INLINE double TwoBlocks(const double* a, int64_t na, const double* b, int64_t nb) {
  Lanes ra = Load(a);
  Lanes rb = Load(b);
  const int64_t ea = na - na % 8;
  const int64_t eb = nb - nb % 8;
  int64_t i = 8;
  for (; i < std::min(ea, eb); i += 8) {
    ra += Load(a + i);
    rb += Load(b + i);
  }
  for (int64_t j = i; j < ea; j += 8) ra += Load(a + j);
  for (int64_t j = i; j < eb; j += 8) rb += Load(b + j);
  return Tail(Fold(ra), a, ea, na) + Tail(Fold(rb), b, eb, nb);
}

DN_INLINE double OneBlock(const double* a, int64_t n) {
  Lanes r = Load(a);
  const int64_t e = n - n % 8;
  for (int64_t i = 8; i < e; i += 8) r += Load(a + i);
  return Tail(Fold(r), a, e, n);
}

// numpy's recursion: halves rounded down to a multiple of 8, blocks of at most 128.
template <typename Self>
DN_INLINE double Recurse(const double* a, int64_t n, Self self) {
  if (n < 8) {
    double res = -0.0;  // keeps an all -0.0 run -0.0, as numpy's loop does
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= kBlock) return OneBlock(a, n);
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  if (n - n2 <= kBlock) return TwoBlocks(a, n2, a + n2, n - n2);
  return self(a, n2) + self(a + n2, n - n2);
}

__attribute__((target("avx512f"))) double SumAvx512(const double* a, int64_t n) {
  return Recurse(a, n, SumAvx512);
}

__attribute__((target("avx2"))) double SumAvx2(const double* a, int64_t n) { return Recurse(a, n, SumAvx2); }

double SumBaseline(const double* a, int64_t n) { return Recurse(a, n, SumBaseline); }

using SumFn = double (*)(const double*, int64_t);

SumFn For(SumKernel k) {
  switch (k) {
    case SumKernel::kAvx512:
      return SumAvx512;
    case SumKernel::kAvx2:
      return SumAvx2;
    case SumKernel::kBaseline:
      break;
  }
  return SumBaseline;
}

double Split(const double* a, int64_t n, SumFn sum) {
  if (n < kParallelAbove) return sum(a, n);
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  double left = 0;
  double right = 0;
  tbb::parallel_invoke([&] { left = Split(a, n2, sum); }, [&] { right = Split(a + n2, n - n2, sum); });
  return left + right;
}

}  // namespace

bool SumKernelSupported(SumKernel k) {
  switch (k) {
    case SumKernel::kAvx512:
      return __builtin_cpu_supports("avx512f");
    case SumKernel::kAvx2:
      return __builtin_cpu_supports("avx2");
    case SumKernel::kBaseline:
      break;
  }
  return true;
}

double PairwiseSumContiguous(const double* a, int64_t n, SumKernel k) { return Split(a, n, For(k)); }

double PairwiseSumContiguous(const double* a, int64_t n) {
  static const SumFn best = SumKernelSupported(SumKernel::kAvx512) ? SumAvx512
                            : SumKernelSupported(SumKernel::kAvx2) ? SumAvx2
                                                                   : SumBaseline;
  return Split(a, n, best);
}

}  // namespace dn::native
