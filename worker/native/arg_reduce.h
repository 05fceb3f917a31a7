#pragma once

// dask.array's arg reductions (argmax, argmin, nanargmax, nanargmin), step by step as
// dask.array.reductions runs them, so every intermediate and result is the one
// dask 2026.8.0 with numpy 2.4.6 computes:
//
//   arg_chunk(func, argfunc, x, axis, offset_info) -> structured ("vals", "arg")
//   arg_combine(argfunc, data, axis, keepdims=True) -> structured ("vals", "arg")
//   arg_agg / nanarg_agg(argfunc, data, axis, keepdims) -> int64 indices
//
// The chunk step reduces either over the whole chunk (a flat index, when every axis is
// reduced or the array is 1-D) or along one axis; flat indices are translated into
// the whole array's flat index with the chunk's origin, per-axis ones shifted by the
// chunk's offset. The later steps pick, per output element, the winning entry of the
// concatenated partials and carry its value and index along. Winners are chosen in the
// partials' C order, so ties and NaNs resolve as dask's tree does (not always as numpy
// would on the whole array).
//
// Semantics of the scans (exact, as numpy's):
//  * argmax/argmin: the first extreme element; a NaN counts as the extreme, so the
//    first NaN wins. `vals` is np.max/np.min of the same elements.
//  * nanargmax/nanargmin: NaNs count as -inf/+inf (numpy replaces them before argmax);
//    an all-NaN slice gives index 0, and its `vals` is NaN (np.nanmax's answer; dask
//    falls back to the replaced array when numpy raises). `vals` is np.nanmax/nanmin.
//  * The sign of a zero `vals` entry when +0.0 and -0.0 tie follows reduce.h's Max/Min;
//    indices never depend on it.
//  * Partials are C-ordered. numpy lays a chunk's partial out like the chunk (F order
//    for a transposed 3-D chunk reduced along a middle axis), so such a partial is sent
//    with other strides than a stock worker's; its values, and every later step, agree.
//
// Inputs of dtype float64, float32 and int64 are handled; others, empty or 0-d arrays
// and a flat offset outside the whole shape are NotImplemented (Python runs them and
// raises where numpy raises). Pure functions: no I/O, no threads.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "worker/native/ndarray.h"

namespace dn::native {

/// Which reduction, from dask's `argfunc` (chunk.argmax, chunk.argmin,
/// reductions._nanargmax, reductions._nanargmin).
enum class ArgKind : uint8_t { kArgMax, kArgMin, kNanArgMax, kNanArgMin };

/// The kind for an argfunc spelled "module.name", or nullopt.
std::optional<ArgKind> ArgKindOf(std::string_view argfunc);

/// Whether `func` ("module.name") is the value reduction arg_chunk pairs with `kind`
/// (numpy.max, numpy.min, numpy.nanmax, numpy.nanmin).
bool IsArgChunkFunc(ArgKind kind, std::string_view func);

/// dask's intermediate: the structured array [("vals", x.dtype), ("arg", int64)],
/// one C-contiguous array per field, both of one shape (the keepdims shape).
struct ArgPartial {
  NdArray vals;
  NdArray arg;
};

/// arg_chunk's `offset_info`: for a flat reduction the chunk's first index along each
/// axis and the whole array's shape; for a reduction along one axis the chunk's offset
/// along it.
struct ArgOffset {
  std::vector<int64_t> origin;
  std::vector<int64_t> total_shape;
  int64_t along = 0;
};

/// `arg_chunk(func, argfunc, x, axis=axes, offset_info=offset)`.
Result<ArgPartial> ArgChunk(ArgKind kind, const NdArray& x, const std::vector<int>& axes,
                            const ArgOffset& offset);

/// `_arg_combine(data, axes, argfunc, keepdims)`: the `arg` and `vals` of the winners.
/// Without keepdims a flat reduction gives numpy scalars (NdArray::scalar).
Result<ArgPartial> ArgCombine(ArgKind kind, const ArgPartial& data, const std::vector<int>& axes,
                              bool keepdims);

/// True if any element of `a` is NaN (nanarg_agg raises then).
bool AnyNaN(const NdArray& a);

}  // namespace dn::native
