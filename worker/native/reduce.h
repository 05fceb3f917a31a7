#pragma once

// Reduction kernels that reproduce numpy 2.4.6 results bit for bit.
//
// numpy's float sums are order-dependent, and the order is decided by the reduction
// iterator (nditer), not by the `axis` argument alone. These kernels replay numpy's
// iterator setup (axis sorting by stride, coalescing, `npyiter_find_buffering_setup` with
// the default 8192-element buffer) and call numpy's own pairwise summation on the same
// blocks, so the result is the same double numpy computes. Facts verified on numpy 2.4.6
// (`np.getbufsize() == 8192`):
//
//  * Contiguous float64, all axes:     0.0 + pairwise(x[0:n])            (one block)
//  * C-order float64, axis=1 / last:   out[i] = 0.0 + pairwise(row i)
//  * C-order float64, axis=0:          out = ((0.0 + row0) + row1) + ...  (elementwise)
//  * Non-contiguous float64, all axes: rows of k <= 4096 elements that do not coalesce
//    go through the 8192-element buffer in whole rows: acc += pairwise(next k*(8192/k))
//    (x[::2, 5:] of a 2000x2000: blocks of 4 rows = 7980 elements). Longer rows are
//    not buffered: acc += pairwise(row). So np.sum(x[::-1]) != np.sum(x) in general.
//  * float32 (or int64) summed with dtype=f8 needs a cast, so it is always buffered:
//    a contiguous array is summed as acc += pairwise(next 8192 elements cast to f8).
//  * float32 with dtype=f4 is not cast: float32 pairwise, accumulating in float32.
//  * The identity is +0.0, so an all -0.0 input sums to +0.0.
//  * np.prod is not pairwise: a left-to-right product from 1.0 in iteration order.
//
// Not reproduced, everywhere below:
//  * Which NaN comes out when NaNs meet (sign and payload bits), e.g. a sum holding a NaN
//    and also +inf and -inf (whose sum makes the default NaN 0xfff8...). The result is NaN
//    exactly when numpy's is, but numpy's NaN bits are a compiler artifact: its own
//    pairwise_sum source gives 0x7ff8... at -O0 and 0xfff8... at -O2 for the same input.
//    These kernels use a fixed rule instead (the left operand's NaN wins).
//  * A buffer size changed with np.setbufsize(): the 8192 above is assumed.
//  * Platforms other than x86-64 (NaN and min/max tie rules follow x86).
//
// Arrays are described as numpy does: a pointer to the first element, a shape, and
// strides in BYTES (ndarray.strides; negative and zero strides allowed). Strides must be
// multiples of the item size (aligned views); anything else is Invalid. Outputs are
// written in C order over the kept axes (keepdims makes no difference to the values).
//
// Pure functions: no I/O, no threads, no allocation beyond scratch buffers. Callable from
// any thread. Never build this file with -ffast-math: it would reorder the sums.

#include <cstdint>
#include <span>

#include "common/status.h"

namespace dn::native {

/// The most dimensions a reduction accepts (numpy allows 64; dask chunks have few).
inline constexpr int kMaxReduceDims = 32;

/// The axes to reduce, as a bit set: bit i reduces axis i (numpy's `axis=` tuple).
using AxisMask = uint64_t;

/// Return the mask of every axis of an `ndim`-dimensional array (numpy's `axis=None`).
constexpr AxisMask AllAxes(int ndim) {
  return ndim >= 64 ? ~AxisMask{0} : (AxisMask{1} << ndim) - 1;
}

/// A read-only N-D view of `T` elements laid out as a numpy array. `shape` and
/// `byte_strides` have one entry per axis and must outlive the call.
template <typename T>
struct StridedView {
  const T* data = nullptr;
  std::span<const int64_t> shape;
  std::span<const int64_t> byte_strides;
};

/// Return how many elements a reduction of `shape` over `axes` writes.
int64_t ReducedSize(std::span<const int64_t> shape, AxisMask axes);

/// Return how many input elements fall into each output element.
int64_t ReductionCount(std::span<const int64_t> shape, AxisMask axes);

/// Sum `n` doubles `stride_elems` apart exactly as numpy's `DOUBLE_pairwise_sum`
/// (loops_utils.h.src): n < 8 sums left to right from -0.0; n <= 128 uses 8 lanes combined
/// as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) then the tail; larger n splits at
/// n/2 rounded down to a multiple of 8. Bit-exact (verified).
double PairwiseSum(const double* a, int64_t n, int64_t stride_elems);

/// The float32 twin, `FLOAT_pairwise_sum`, accumulating in float32. Bit-exact (verified).
float PairwiseSum(const float* a, int64_t n, int64_t stride_elems);

/// `np.sum(x, axis=axes, dtype=f8)` (and `np.add.reduce`) for float64 input.
/// Bit-exact (verified for contiguous, strided, reversed, transposed and 0-stride views).
Status Sum(const StridedView<double>& x, AxisMask axes, double* out);

/// `np.sum(x, axis=axes, dtype=f8)` for float32 input: cast in 8192-element buffers, then
/// pairwise in float64. Bit-exact (verified).
Status Sum(const StridedView<float>& x, AxisMask axes, double* out);

/// `np.sum(x, axis=axes, dtype=f4)` (what dask passes for a float32 array): float32
/// pairwise, float32 accumulator. Bit-exact (verified).
Status Sum(const StridedView<float>& x, AxisMask axes, float* out);

/// `np.sum(x, axis=axes, dtype=f8)` for int64 input (cast to double, then summed in
/// numpy's buffered order; rounds like numpy). Bit-exact (verified).
Status Sum(const StridedView<int64_t>& x, AxisMask axes, double* out);

/// `np.sum(x, axis=axes, dtype=int64)` for int64 or bool input (`(x > 0.5).sum()`).
/// Integer addition wraps like numpy's and is exact in any order.
Status Sum(const StridedView<int64_t>& x, AxisMask axes, int64_t* out);
Status Sum(const StridedView<bool>& x, AxisMask axes, int64_t* out);

/// `np.nansum(x, axis=axes)` for float64: numpy copies x in its stride order (order='K'),
/// sets NaNs to +0.0 and sums the copy, so a strided view is summed as a contiguous
/// array. All-NaN gives 0.0. Bit-exact (verified).
Status NanSum(const StridedView<double>& x, AxisMask axes, double* out);

/// `np.prod(x, axis=axes)` for float64. numpy's multiply-reduce is NOT pairwise: it is a
/// left-to-right product from 1.0 in iteration order. Bit-exact (verified).
Status Prod(const StridedView<double>& x, AxisMask axes, double* out);

/// `np.mean(x, axis=axes)` for float64: the same sum as Sum(), divided by the count.
/// Bit-exact (verified).
Status Mean(const StridedView<double>& x, AxisMask axes, double* out);

/// `np.mean(x, axis=axes)` for float32: numpy keeps float32 (sum with dtype=f4, float32
/// division). Bit-exact (verified).
Status Mean(const StridedView<float>& x, AxisMask axes, float* out);

/// `np.sum((x - u)**2, axis=axes, dtype=f8)` where `u` holds one value per output element
/// (C order over the kept axes, i.e. the keepdims mean broadcast back), as in dask's
/// `moment_chunk`. The differences go to a temporary laid out as numpy would allocate
/// `x - u` (order K), which then decides the summation order. Bit-exact (verified against
/// dask's moment_chunk for 1-D/2-D C, F and strided views, and random N-D views).
Status SumSquaredDeviations(const StridedView<double>& x, AxisMask axes, const double* u,
                            double* out);
Status SumSquaredDeviations(const StridedView<float>& x, AxisMask axes, const double* u,
                            double* out);

/// `np.max(x, axis=axes)` / `np.min`: NaN if any NaN is reduced, else the extreme value.
/// Bit-exact except the sign of a zero result when +0.0 and -0.0 tie for the extreme in
/// a run longer than one SIMD vector: numpy's result then depends on its SIMD lane layout
/// (AVX2 and AVX512 differ); this returns what numpy's scalar x86 loop would, the later
/// of the tied zeros (verified to match numpy for short runs and elementwise axes). A
/// zero-length reduced axis is Invalid, as numpy raises.
template <typename T>
Status Max(const StridedView<T>& x, AxisMask axes, T* out);
template <typename T>
Status Min(const StridedView<T>& x, AxisMask axes, T* out);

/// `np.argmax(x, axis=axis)` / `np.argmin`; `axis == -1` means `axis=None` (index into
/// the C-order flattening). First occurrence wins; a NaN counts as the extreme, so the
/// first NaN's index is returned. Exact. An empty axis is Invalid.
template <typename T>
Status ArgMax(const StridedView<T>& x, int axis, int64_t* out);
template <typename T>
Status ArgMin(const StridedView<T>& x, int axis, int64_t* out);

/// `np.any(x, axis=axes)` / `np.all`: an element is true when != 0 (NaN is true, -0.0
/// false). Exact.
template <typename T>
Status Any(const StridedView<T>& x, AxisMask axes, bool* out);
template <typename T>
Status All(const StridedView<T>& x, AxisMask axes, bool* out);

}  // namespace dn::native
