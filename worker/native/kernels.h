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
/// Other methods are NotImplemented.
Result<NdArray> RandomChunk(std::string_view method, const uint32_t* key, int64_t key_words,
                            const std::vector<int64_t>& size, const std::vector<double>& params);

/// A chunk of `np.random.Generator(np.random.PCG64(seedseq)).<method>(size=size)` for
/// the SeedSequence whose 4-word pool is `pool`: only `random` (float64), bit for bit.
Result<NdArray> GeneratorChunk(std::string_view method, const uint32_t* pool,
                               const std::vector<int64_t>& size);

/// A numpy reduction: `np.<op>(x, axis=axes, dtype=dtype, keepdims=keepdims)`.
struct ReduceSpec {
  std::string op;          ///< sum, nansum, prod, max, min, any, all
  std::vector<int> axes;   ///< normalised, each in [0, ndim)
  bool keepdims = false;
  std::optional<DType> dtype;
};

/// Reduce `x` as numpy would. A reduction over every axis without keepdims returns a
/// numpy scalar (NdArray::scalar). Results are bit-identical to the pinned numpy where
/// reduce.h says so; unsupported dtype/op combinations are NotImplemented.
Result<NdArray> Reduce(const NdArray& x, const ReduceSpec& spec);

/// `np.sum((x - u)**2, axis=axes, dtype=f8, keepdims=keepdims)` for float64 x, where
/// `u` holds one value per output element in C order (dask's moment_chunk).
Result<NdArray> SumSquaredDeviationsOf(const NdArray& x, const std::vector<int>& axes, bool keepdims,
                                       const NdArray& u);

/// `np.concatenate(parts, axis)` for arrays of one dtype and equal other dimensions.
Result<NdArray> Concatenate(const std::vector<NdArray>& parts, int axis);

}  // namespace dn::native
