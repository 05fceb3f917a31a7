#include "worker/native/pairwise_sum.h"

#include <tbb/parallel_invoke.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstring>

namespace dn::native {
namespace {

constexpr int64_t kBlock = 128;              // numpy's PW_BLOCKSIZE
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
DN_INLINE double Fold(Lanes r) {
  return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
}

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

DN_INLINE int64_t Half(int64_t n) {
  const int64_t n2 = n / 2;
  return n2 - n2 % 8;
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
  const int64_t n2 = Half(n);
  if (n - n2 <= kBlock) return TwoBlocks(a, n2, a + n2, n - n2);
  return self(a, n2) + self(a + n2, n - n2);
}

// The same recursion over S ranges of one length n (>= 8), in lockstep: each range
// gets numpy's additions in numpy's order, so each result has the same bits; only
// the interleaving across ranges differs. Why: a large sum is bound by how fast one
// core reads memory, and on this kind of machine one sequential stream reads at
// ~12.5 GB/s a core while four streams far apart read at ~15 GB/s (more cache
// misses in flight; measured with bench/dn-machine-limits' chunks).
template <int S, typename Self>
DN_INLINE void Lockstep(const double* const* a, int64_t n, double* out, Self self) {
  if (n <= kBlock) {
    Lanes r[S];
    for (int k = 0; k < S; ++k) r[k] = Load(a[k]);
    const int64_t e = n - n % 8;
    for (int64_t i = 8; i < e; i += 8) {
      for (int k = 0; k < S; ++k) r[k] += Load(a[k] + i);
    }
    for (int k = 0; k < S; ++k) out[k] = Tail(Fold(r[k]), a[k], e, n);
    return;
  }
  const int64_t n2 = Half(n);
  const double* right[S];
  double left_sums[S];
  double right_sums[S];
  for (int k = 0; k < S; ++k) right[k] = a[k] + n2;
  self(a, n2, left_sums);
  self(right, n - n2, right_sums);
  for (int k = 0; k < S; ++k) out[k] = left_sums[k] + right_sums[k];
}

// Below this many doubles (256 KB) the data is likely cached and one stream is as fast.
constexpr int64_t kStreamsAbove = int64_t{1} << 15;

// The top of numpy's recursion, looking for equal halves (and quarters) to sum in
// lockstep; `one` is the plain recursion.
template <typename Self, typename One, typename Two, typename Four>
DN_INLINE double Streams(const double* a, int64_t n, Self self, One one, Two two, Four four) {
  if (n < kStreamsAbove) return one(a, n);
  const int64_t n2 = Half(n);
  if (n2 != n - n2) return self(a, n2) + self(a + n2, n - n2);
  double out[4];
  const int64_t q = Half(n2);
  if (q == n2 - q) {
    const double* quarters[4] = {a, a + q, a + n2, a + n2 + q};
    four(quarters, q, out);
    return (out[0] + out[1]) + (out[2] + out[3]);
  }
  const double* halves[2] = {a, a + n2};
  two(halves, n2, out);
  return out[0] + out[1];
}

// One set of kernels per vector unit.
#define DN_SUM_KERNELS(Name, kTarget)                                                 \
  __attribute__((target(kTarget))) double Name##One(const double* a, int64_t n) {     \
    return Recurse(a, n, Name##One);                                                  \
  }                                                                                   \
  template <int S>                                                                    \
  __attribute__((target(kTarget))) void Name##Lock(const double* const* a, int64_t n, \
                                                   double* out) {                     \
    Lockstep<S>(a, n, out, Name##Lock<S>);                                            \
  }                                                                                   \
  __attribute__((target(kTarget))) double Name(const double* a, int64_t n) {          \
    return Streams(a, n, Name, Name##One, Name##Lock<2>, Name##Lock<4>);              \
  }

DN_SUM_KERNELS(SumAvx512, "avx512f")
DN_SUM_KERNELS(SumAvx2, "avx2")
DN_SUM_KERNELS(SumBaseline, "default")

#undef DN_SUM_KERNELS

using SumFn = double (*)(const double*, int64_t);

SumFn For(SumKernel k) {
  switch (k) {
    case SumKernel::kAvx512: return SumAvx512;
    case SumKernel::kAvx2: return SumAvx2;
    case SumKernel::kBaseline: break;
  }
  return SumBaseline;
}

// On an arena of one thread (a worker's usual executor) the halves would run one after
// the other anyway, and splitting there would cost its tasks and the lockstep's reach.
double Split(const double* a, int64_t n, SumFn sum) {
  if (n < kParallelAbove || tbb::this_task_arena::max_concurrency() == 1) return sum(a, n);
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  double left = 0;
  double right = 0;
  tbb::parallel_invoke([&] { left = Split(a, n2, sum); },
                       [&] { right = Split(a + n2, n - n2, sum); });
  return left + right;
}

}  // namespace

bool SumKernelSupported(SumKernel k) {
  switch (k) {
    case SumKernel::kAvx512: return __builtin_cpu_supports("avx512f");
    case SumKernel::kAvx2: return __builtin_cpu_supports("avx2");
    case SumKernel::kBaseline: break;
  }
  return true;
}

double PairwiseSumContiguous(const double* a, int64_t n, SumKernel k) {
  return Split(a, n, For(k));
}

double PairwiseSumContiguous(const double* a, int64_t n) {
  static const SumFn best = SumKernelSupported(SumKernel::kAvx512) ? SumAvx512
                            : SumKernelSupported(SumKernel::kAvx2) ? SumAvx2
                                                                   : SumBaseline;
  return Split(a, n, best);
}

}  // namespace dn::native
