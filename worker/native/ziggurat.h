#pragma once

// numpy's ziggurat sampler for `np.random.Generator.standard_normal` (float64) and the
// draws built on it (`Generator.normal`), bit for bit, over the Pcg64 stream of
// random.h. The method is Marsaglia & Tsang's ziggurat (J. Stat. Softw. 5(8), 2000)
// with 256 layers and 52-bit mantissas, as numpy/random/src/distributions/distributions.c
// (`random_standard_normal`) applies it. The tables are computed here at first use
// from the two defining constants rather than stored; ziggurat.cc explains how they
// reproduce numpy's stored tables exactly.
//
// Like random.h, results match numpy only when compiled without -ffast-math and without
// floating-point contraction, and the rare slow paths call libm's `exp` and `log1p`:
// with glibc they match numpy's wheels, another libm may differ by an ulp there.

#include <cstdint>

#include "worker/native/random.h"

namespace dn::native {

/// The normal ziggurat: layer i (1..255) is the rectangle [0, x_i] x [f(x_{i-1}), f(x_i)]
/// under f(x) = exp(-x²/2), with x_0 = 0 and x_255 = r; layer 0 is the base strip
/// [0, r] x [0, f(r)] plus the tail beyond r. Every layer has the same area v.
struct ZigguratTables {
  static constexpr int kLayers = 256;
  /// Tail edge r (numpy's `ziggurat_nor_r`).
  static constexpr double kR = 3.6541528853610087963519472518;
  /// Area of each layer, as numpy's tables were generated with it.
  static constexpr double kV = 0.0049286732339746519;

  /// Acceptance thresholds, in units of 2^-52: a draw of layer i with 52-bit magnitude
  /// `rabs < ki[i]` lies inside the next layer up, so it is accepted without a test.
  uint64_t ki[kLayers];
  /// Scales from a 52-bit magnitude to x: x_i / 2^52 (layer 0: (v / f(r)) / 2^52).
  double wi[kLayers];
  /// f at each layer's right edge: f(x_i) (fi[0] = f(0) = 1).
  double fi[kLayers];
};

/// Return the tables, built on the first call (thread-safe; about 1 µs of work).
/// Bit-identical to numpy's `ki_double`, `wi_double` and `fi_double`.
const ZigguratTables& NormalZiggurat();

/// How often the slow paths of NextStandardNormal ran, for tests that must show
/// those paths were exercised. Counts accumulate; the fast path is not counted.
struct ZigguratCounts {
  int64_t wedge_accepted = 0;  ///< layer 1..255 draws accepted by the exp test
  int64_t wedge_rejected = 0;  ///< layer 1..255 draws rejected (a new draw follows)
  int64_t tail = 0;            ///< values returned from the tail beyond r
  int64_t tail_rejected = 0;   ///< tail candidates rejected (two more doubles drawn)
};

/// Return the next `random_standard_normal` value of `rng`. If `counts` is given, the
/// slow paths taken are added to it.
double NextStandardNormal(Pcg64& rng, ZigguratCounts* counts = nullptr);

/// Fill `out[0..n)` as `Generator.standard_normal(n)` (float64): n calls of
/// NextStandardNormal.
void FillStandardNormal(Pcg64& rng, double* out, int64_t n);

/// Fill `out[0..n)` as `Generator.normal(loc, scale, n)` for scalar loc and scale:
/// numpy's `random_normal`, `loc + scale * NextStandardNormal()`. numpy rejects a scale
/// whose sign bit is set (other than NaN) before drawing; callers must do the same.
void FillNormal(Pcg64& rng, double* out, int64_t n, double loc, double scale);

}  // namespace dn::native
