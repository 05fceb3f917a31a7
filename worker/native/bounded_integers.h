#pragma once

// numpy's bounded random integers, bit for bit: `RandomState.randint` (legacy MT19937,
// masked rejection) and `Generator.integers` (PCG64, Lemire's method), for scalar bounds
// and the int64 and int32 dtypes. Mirrors random_bounded_uint64_fill and
// random_bounded_uint32_fill of numpy/random/src/distributions/distributions.c, which
// numpy/random/_bounded_integers.pyx.in's `_rand_int64` / `_rand_int32` call with
// `off = low` and `rng = high - low` (closed interval). The draws consumed, and so the
// values, depend on the method, on whether the range fits in 32 bits and on the
// generator's 32-bit output (Mt19937: one word; Pcg64: half of a 64-bit draw, the
// other half kept for the next call).

#include <cstdint>

#include "worker/native/random.h"

namespace dn::native {

/// How a value in [0, rng] is drawn from uniform words.
enum class BoundedMethod : uint8_t {
  /// Draw words, AND with the smallest all-ones mask >= rng, retry while > rng.
  /// `RandomState.randint` always uses this (numpy keeps it for the legacy stream).
  kMasked,
  /// Lemire's multiply-and-reject (arXiv:1805.10941). `Generator.integers` uses this.
  kLemire,
};

/// Fill `out[0..n)` with `off + v` (mod 2^64), each v uniform in [0, rng], as numpy's
/// `random_bounded_uint64_fill(bitgen, off, rng, n, use_masked, out)`: no draws when
/// rng == 0; 32-bit draws while rng < 2^32; a raw draw when rng is all ones.
/// `BitGen` is Mt19937 or Pcg64.
template <class BitGen>
void FillBoundedUint64(BitGen& gen, uint64_t off, uint64_t rng, BoundedMethod method, uint64_t* out,
                       int64_t n);

/// Fill `out[0..n)` with `off + v` (mod 2^32), each v uniform in [0, rng], as numpy's
/// `random_bounded_uint32_fill`. `BitGen` is Mt19937 or Pcg64.
template <class BitGen>
void FillBoundedUint32(BitGen& gen, uint32_t off, uint32_t rng, BoundedMethod method, uint32_t* out,
                       int64_t n);

/// Fill `out[0..n)` as numpy's `_rand_int64` for scalar bounds: uniform in the closed
/// interval [low, high] (for randint's or integers' half-open [low, high) pass
/// high - 1). Requires low <= high; numpy raises ValueError otherwise.
template <class BitGen>
void FillInt64(BitGen& gen, int64_t low, int64_t high, BoundedMethod method, int64_t* out,
               int64_t n);

/// Fill `out[0..n)` as numpy's `_rand_int32` for scalar bounds: uniform in the closed
/// interval [low, high]. Requires low <= high.
template <class BitGen>
void FillInt32(BitGen& gen, int32_t low, int32_t high, BoundedMethod method, int32_t* out,
               int64_t n);

}  // namespace dn::native
