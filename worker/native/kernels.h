#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "worker/native/ndarray.h"

namespace dn::native {

/// A chunk of `np.random.RandomState(key).<method>(*params, size=size)`, bit for bit:
/// random_sample, random, uniform(low, high), normal(loc, scale), standard_normal.
/// Other methods, and parameters numpy rejects (a non-finite uniform range, a negative
/// scale), are NotImplemented, so that Python runs the task and raises numpy's error.
Result<NdArray> RandomChunk(std::string_view method, const uint32_t* key, int64_t key_words,
                            const std::vector<int64_t>& size, const std::vector<double>& params);

/// A chunk of `np.random.Generator(np.random.PCG64(seedseq)).<method>(*params, size=size)`
/// (float64) for the SeedSequence whose 4-word pool is `pool`, bit for bit: random,
/// standard_normal, normal(loc, scale), uniform(low, high). As RandomChunk, anything
/// else, or parameters numpy rejects, is NotImplemented.
Result<NdArray> GeneratorChunk(std::string_view method, const uint32_t* pool,
                               const std::vector<int64_t>& size, const std::vector<double>& params);

/// The values of an integer draw: the closed interval [low, high] and the dtype.
struct IntegerBounds {
  int64_t low = 0;
  int64_t high = 0;             ///< inclusive (randint's and integers' exclusive high, minus 1)
  DType dtype = DType::kInt64;  ///< kInt64 or kInt32
};

/// A chunk of `np.random.RandomState(key).randint(low, high + 1, size=size, dtype=dtype)`,
/// bit for bit (masked rejection on the MT19937 stream). Bounds numpy rejects (empty,
/// or outside the dtype) and other dtypes are NotImplemented; an empty `size` draws
/// nothing and returns an empty array whatever the bounds, as numpy does.
Result<NdArray> RandintChunk(const uint32_t* key, int64_t key_words,
                             const std::vector<int64_t>& size, const IntegerBounds& bounds);

/// A chunk of `np.random.Generator(np.random.PCG64(seedseq)).integers(low, high,
/// size=size, dtype=dtype, endpoint=True)`, bit for bit (Lemire's method), with the same
/// rules as RandintChunk.
Result<NdArray> GeneratorIntegersChunk(const uint32_t* pool, const std::vector<int64_t>& size,
                                       const IntegerBounds& bounds);

/// A numpy reduction: `np.<op>(x, axis=axes, dtype=dtype, keepdims=keepdims)`.
struct ReduceSpec {
  std::string op;         ///< sum, nansum, prod, max, min, any, all
  std::vector<int> axes;  ///< normalised, each in [0, ndim)
  bool keepdims = false;
  std::optional<DType> dtype;
};

/// Reduce `x` as numpy would. A reduction over every axis without keepdims returns a
/// numpy scalar (NdArray::scalar). Results are bit-identical to the pinned numpy where
/// reduce.h says so; unsupported dtype/op combinations are NotImplemented.
Result<NdArray> Reduce(const NdArray& x, const ReduceSpec& spec);

/// `np.sum((x - u)**2, axis=axes, dtype=f8, keepdims=keepdims)` for float64 x, where
/// `u` holds one value per output element in C order (dask's moment_chunk).
Result<NdArray> SumSquaredDeviationsOf(const NdArray& x, const std::vector<int>& axes,
                                       bool keepdims, const NdArray& u);

/// `np.concatenate(parts, axis)` for arrays of one dtype and equal other dimensions.
Result<NdArray> Concatenate(const std::vector<NdArray>& parts, int axis);

}  // namespace dn::native
