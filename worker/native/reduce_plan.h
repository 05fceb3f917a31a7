#pragma once

// numpy's reduction iteration order, as a plan (reduce.cc executes it). Internal to
// reduce.cc; see the comment at its top for what is mirrored from numpy 2.4.6.

#include <cstdint>
#include <span>

#include "common/status.h"
#include "worker/native/reduce.h"

namespace dn::native::reduce_plan {

inline constexpr int64_t kBufSize = 8192;  // NPY_BUFSIZE: np.getbufsize() unless a user changes it

/// Elements in a view of `shape`.
int64_t ViewSize(std::span<const int64_t> shape);

inline int64_t InnerStride(const int64_t* strides, int nd) { return nd ? strides[nd - 1] : 0; }

inline std::span<const int64_t> Span(const int64_t* p, int n) {
  return {p, static_cast<size_t>(n)};
}

/// Strides (elements) of a C-order array holding one value per kept axis, 0 on reduced
/// axes.
void ReducedCStrides(std::span<const int64_t> shape, AxisMask axes, int64_t* strides);

/// Invalid unless `shape`/`strides` (bytes) describe a view reduce.cc can walk.
Status CheckView(std::span<const int64_t> shape, std::span<const int64_t> strides, int64_t itemsize,
                 AxisMask axes);

/// npyiter_find_best_axis_ordering for `nops` operands: a stable insertion sort of the
/// axes from smallest to largest |stride|. A zero stride says nothing; when operands
/// disagree, the one voting for the current (C) order wins. `order` holds original axis
/// numbers, innermost first.
void SortAxes(int nd, int nops, const int64_t* const* strides, int* order);

/// Strides (in elements) of a new array contiguous in iteration order `order` (innermost
/// first), skipping `skip` axes; length-1 and skipped axes get 0, as the iterator sees them.
void ContiguousInOrder(int nd, const int* order, const int64_t* shape, AxisMask skip,
                       int64_t* strides);

/// Iterator dimensions run innermost first, like numpy's AXISDATA.
struct Plan {
  int ndim = 1;
  int64_t shape[kMaxReduceDims];
  int64_t in[kMaxReduceDims];   // input strides, in elements of the input type
  int64_t out[kMaxReduceDims];  // result strides, in elements of numpy's result layout
  int64_t itersize = 0;
  int64_t coresize = 1;
  int outerdim = 0;
  bool reduce = false;       // numpy's REDUCE iteration (an outer loop over cores)
  bool in_buffered = false;  // the input goes through the buffer (cast or not 1-strided)
  int64_t buffersize = 0;
  // The result as numpy allocates it (contiguous in iteration order), per original axis.
  int64_t out_size = 1;
  int64_t result_stride[kMaxReduceDims];  // 0 for reduced and length-1 axes
};

/// Build numpy's iteration plan for `(out, in)`; `cast` marks an input that numpy must
/// buffer to change its dtype.
Status MakePlan(std::span<const int64_t> shape, std::span<const int64_t> byte_strides,
                int64_t itemsize, AxisMask axes, bool cast, Plan* p);

}  // namespace dn::native::reduce_plan
