#include "worker/native/ziggurat.h"

#include <cmath>

namespace dn::native {

namespace {

constexpr int kLayers = ZigguratTables::kLayers;
constexpr double kR = ZigguratTables::kR;
constexpr double kV = ZigguratTables::kV;
// numpy spells `ziggurat_nor_inv_r` as its own decimal literal; it is this double.
constexpr double kInvR = 1.0 / kR;
constexpr double kTwo52 = 4503599627370496.0;

// exp and log rounded once to double from extended precision. numpy's tables were made
// in float64 with a libm whose exp and log were correctly rounded at every argument the
// construction meets but one (see BuildTables), and with glibc's own double exp the
// recurrence already agrees; the wider type only keeps that true on libms that are not
// correctly rounded. The closest calls (f at layers 75 and 119) land 0.0015 ulp from a
// rounding midpoint, still 3 long-double ulps clear of it.
double Exp(double a) { return static_cast<double>(std::exp(static_cast<long double>(a))); }
double Log(double a) { return static_cast<double>(std::log(static_cast<long double>(a))); }

// f(x) = exp(-x²/2), with the argument rounded to double first, as numpy's generator
// evaluated it.
double Pdf(double x) { return Exp(-0.5 * x * x); }

// numpy's tables come from a float64 script (ng-numpy-randomstate's
// papers/generate_consts.py, which produced numpy/random/src/distributions/
// ziggurat_constants.h) that walks the layer edges down from r:
//   x_255 = r,  x_{i-1} = sqrt(-2 log(f(x_i) + v / x_i))  for i = 255..2,  x_0 = 0,
// with v = 0.0049286732339746519 (not the 12-digit 0.00492867323399 of Marsaglia &
// Tsang's and Octave's code, which gives tables that differ from the 8th digit on),
// then stores
//   ki[i] = round-half-even(x_{i-1} / x_i * 2^52), ki[0] = round(r f(r) / v * 2^52),
//   wi[i] = x_i / 2^52,  wi[0] = (v / f(r)) / 2^52,  fi[i] = f(x_i),  fi[0] = f(0) = 1.
// The recurrence amplifies a one-ulp change in any step into differences all the way
// down, so the evaluation order above is the one the script used.
//
// One deviation has to be reproduced on purpose: the script's exp returned
// f(x_38) = exp(-0x1.8edbf8bb15d43p-2) one ulp above the correctly rounded value
// (the exact value lies 0.0017 ulp below the midpoint between the two). Both uses of
// that value carry it, fi[38] and the step to x_37, and with it every later layer; all
// 768 entries then equal numpy's (ziggurat_test.cc pins their hash).
constexpr int kMisroundedLayer = 38;

ZigguratTables BuildTables() {
  ZigguratTables t;
  double x[kLayers];
  double f[kLayers];
  x[kLayers - 1] = kR;
  for (int i = kLayers - 1; i >= 1; --i) {
    f[i] = Pdf(x[i]);
    if (i == kMisroundedLayer) f[i] = std::nextafter(f[i], 1.0);
    if (i >= 2) x[i - 1] = std::sqrt(-2.0 * Log(f[i] + kV / x[i]));
  }
  x[0] = 0.0;
  f[0] = 1.0;
  const double f_r = f[kLayers - 1];
  t.ki[0] = static_cast<uint64_t>(std::nearbyint(kR * f_r / kV * kTwo52));
  t.wi[0] = kV / f_r / kTwo52;
  t.fi[0] = f[0];
  for (int i = 1; i < kLayers; ++i) {
    t.ki[i] = static_cast<uint64_t>(std::nearbyint(x[i - 1] / x[i] * kTwo52));
    t.wi[i] = x[i] / kTwo52;
    t.fi[i] = f[i];
  }
  return t;
}

}  // namespace

const ZigguratTables& NormalZiggurat() {
  static const ZigguratTables tables = BuildTables();
  return tables;
}

// Mirrors random_standard_normal. One 64-bit draw supplies the layer (low 8 bits), the
// sign (next bit) and a 52-bit magnitude. The tail and the wedge tests draw doubles
// from the same stream; their expression shapes are numpy's, since each rounding
// decides the returned bits or whether a draw is accepted.
double NextStandardNormal(Pcg64& rng, ZigguratCounts* counts) {
  const ZigguratTables& t = NormalZiggurat();
  for (;;) {
    uint64_t r = rng.Next64();
    const int idx = static_cast<int>(r & 0xff);
    r >>= 8;
    const bool negative = (r & 1) != 0;
    const uint64_t rabs = (r >> 1) & 0x000fffffffffffffULL;
    double x = static_cast<double>(rabs) * t.wi[idx];
    if (negative) x = -x;
    if (rabs < t.ki[idx]) return x;
    if (idx == 0) {
      // Tail beyond r: Marsaglia's exponential rejection, with log1p(-u) (numpy
      // gh-13361) so that u = 0 is harmless. The sign comes from bit 8 of rabs, not
      // from the sign bit above.
      for (;;) {
        const double xx = -kInvR * std::log1p(-rng.NextDouble());
        const double yy = -std::log1p(-rng.NextDouble());
        if (yy + yy > xx * xx) {
          if (counts != nullptr) ++counts->tail;
          return ((rabs >> 8) & 1) != 0 ? -(kR + xx) : kR + xx;
        }
        if (counts != nullptr) ++counts->tail_rejected;
      }
    }
    if ((t.fi[idx - 1] - t.fi[idx]) * rng.NextDouble() + t.fi[idx] < std::exp(-0.5 * x * x)) {
      if (counts != nullptr) ++counts->wedge_accepted;
      return x;
    }
    if (counts != nullptr) ++counts->wedge_rejected;
  }
}

void FillStandardNormal(Pcg64& rng, double* out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = NextStandardNormal(rng);
}

// random_normal(bitgen, loc, scale); numpy's `cont` calls it once per element.
void FillNormal(Pcg64& rng, double* out, int64_t n, double loc, double scale) {
  for (int64_t k = 0; k < n; ++k) out[k] = loc + scale * NextStandardNormal(rng);
}

}  // namespace dn::native
