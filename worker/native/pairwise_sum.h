#pragma once

#include <cstdint>

namespace dn::native {

/// numpy's `DOUBLE_pairwise_sum` over `n` contiguous doubles, the inner loop of every
/// float64 sum and mean: the same additions in the same order, so the same result bit
/// for bit, except for which NaN comes out when there are several (reduce.cc redoes
/// NaN results with its exact rule).
///
/// This is the hot loop of the seed workload's reductions, so it is written for speed:
/// a block's eight partial sums live in one vector register (numpy's r[0..7] are its
/// lanes), two sibling blocks run interleaved to hide the add latency, the widest
/// vector unit the CPU has is chosen at run time, the equal quarters (or halves) of a
/// large array are summed in lockstep so that one core reads four streams at once,
/// and the two halves of a large array are summed in parallel when the calling TBB
/// arena has more than one thread (numpy adds the halves' sums last, so splitting
/// there changes nothing).
double PairwiseSumContiguous(const double* a, int64_t n);

/// The vector units PairwiseSumContiguous can use; tests run each one.
enum class SumKernel { kBaseline, kAvx2, kAvx512 };
bool SumKernelSupported(SumKernel k);
/// PairwiseSumContiguous on a given unit, which must be supported.
double PairwiseSumContiguous(const double* a, int64_t n, SumKernel k);

}  // namespace dn::native
