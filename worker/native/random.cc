#include "worker/native/random.h"

#include <cassert>
#include <cmath>

#if !defined(__SIZEOF_INT128__)
#error "dn::native::Pcg64 needs a compiler with unsigned __int128 (GCC or Clang, 64-bit)"
#endif

namespace dn::native {

namespace {

// The constants of the reference MT19937 (Matsumoto & Nishimura, 2002-01-26), as
// numpy/random/src/mt19937/mt19937.h spells them.
constexpr int kN = Mt19937::kStateWords;
constexpr int kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfu;
constexpr uint32_t kUpperMask = 0x80000000u;
constexpr uint32_t kLowerMask = 0x7fffffffu;

inline uint32_t Twist(uint32_t cur, uint32_t next, uint32_t far) {
  const uint32_t y = (cur & kUpperMask) | (next & kLowerMask);
  return far ^ (y >> 1) ^ (-(y & 1u) & kMatrixA);
}

__extension__ typedef unsigned __int128 U128;

// PCG_DEFAULT_MULTIPLIER_128 of numpy/random/src/pcg64/pcg64.h.
constexpr U128 kPcgMultiplier =
    (static_cast<U128>(0x2360ed051fc65da4ULL) << 64) | 0x4385df649fccf645ULL;

// SeedSequence hashing constants, numpy/random/bit_generator.pyx.
constexpr uint32_t kInitB = 0x8b51f9ddu;
constexpr uint32_t kMultB = 0x58f38dedu;
constexpr int kXShift = 16;  // sizeof(uint32) * 8 / 2

}  // namespace

// Mirrors mt19937_seed(state, 19650218) followed by mt19937_init_by_array. All
// arithmetic is uint32, so the reference code's `& 0xffffffff` masks are implicit.
void Mt19937::InitByArray(const uint32_t* key, size_t n) {
  assert(n >= 1);
  uint32_t* mt = mt_;
  mt[0] = 19650218u;
  for (int i = 1; i < kN; ++i) {
    mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  int i = 1;
  size_t j = 0;
  for (size_t k = n > static_cast<size_t>(kN) ? n : kN; k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] +
            static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt[0] = mt[kN - 1];
      i = 1;
    }
    if (j >= n) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) -
            static_cast<uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt[0] = mt[kN - 1];
      i = 1;
    }
  }
  mt[0] = 0x80000000u;  // MSB set: the state is never all zero
  pos_ = kN;
  has_gauss_ = false;
  gauss_ = 0.0;
}

// Mirrors mt19937_gen; the loop split avoids a modulo per word.
void Mt19937::Regenerate() {
  uint32_t* mt = mt_;
  int i = 0;
  for (; i < kN - kM; ++i) mt[i] = Twist(mt[i], mt[i + 1], mt[i + kM]);
  for (; i < kN - 1; ++i) mt[i] = Twist(mt[i], mt[i + 1], mt[i + (kM - kN)]);
  mt[kN - 1] = Twist(mt[kN - 1], mt[0], mt[kM - 1]);
  pos_ = 0;
}

// Mirrors legacy_gauss. The draw order (x1 then x2), the rejection test and the
// expression shapes are numpy's; changing any of them changes the stream.
double Mt19937::NextGauss() {
  if (has_gauss_) {
    has_gauss_ = false;
    const double cached = gauss_;
    gauss_ = 0.0;
    return cached;
  }
  double x1, x2, r2;
  do {
    x1 = 2.0 * NextDouble() - 1.0;
    x2 = 2.0 * NextDouble() - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  const double f = std::sqrt(-2.0 * std::log(r2) / r2);
  gauss_ = f * x1;
  has_gauss_ = true;
  return f * x2;
}

// Works block by block: the words left in the current block are tempered and paired
// straight from mt_, so the inner loop has no regeneration check. A double whose two
// words straddle a regeneration (only after an odd number of Next32 calls) goes
// through NextDouble.
void Mt19937::FillRandomSample(double* out, int64_t n) {
  while (n > 0) {
    if (pos_ == kN) Regenerate();
    int64_t pairs = (kN - pos_) / 2;
    if (pairs == 0) {
      *out++ = NextDouble();
      --n;
      continue;
    }
    if (pairs > n) pairs = n;
    const uint32_t* w = mt_ + pos_;
    for (int64_t k = 0; k < pairs; ++k) {
      // Both halves are < 2^27, so the int32 conversion is exact and vectorises.
      const auto a = static_cast<int32_t>(Temper(w[2 * k]) >> 5);
      const auto b = static_cast<int32_t>(Temper(w[2 * k + 1]) >> 6);
      out[k] = (a * 67108864.0 + b) / 9007199254740992.0;
    }
    pos_ += static_cast<int>(2 * pairs);
    out += pairs;
    n -= pairs;
  }
}

// random_uniform(bitgen, lower, range) is `lower + range * next_double`, with
// range = high - low computed once in mtrand.pyx's uniform(). Filling the doubles
// first and transforming in place gives the same values.
void Mt19937::FillUniform(double* out, int64_t n, double low, double high) {
  FillRandomSample(out, n);
  const double range = high - low;
  for (int64_t k = 0; k < n; ++k) out[k] = low + range * out[k];
}

void Mt19937::FillNormal(double* out, int64_t n, double loc, double scale) {
  for (int64_t k = 0; k < n; ++k) out[k] = loc + scale * NextGauss();
}

void Mt19937::FillStandardNormal(double* out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = NextGauss();
}

// SeedSequence.generate_state(4, np.uint64) hashes the pool (cycled) into 8 uint32
// words, which are then read as 4 little-endian uint64 s0..s3; _pcg64.pyx passes
// seed = {s0, s1} and inc = {s2, s3} to pcg64_set_seed, which forms the 128-bit
// values high word first and runs pcg_setseq_128_srandom_r.
Pcg64 Pcg64::FromSeedSequencePool(const uint32_t pool[4]) {
  uint32_t words[8];
  uint32_t hash_const = kInitB;
  for (int i = 0; i < 8; ++i) {
    uint32_t v = pool[i % 4] ^ hash_const;
    hash_const *= kMultB;
    v *= hash_const;
    v ^= v >> kXShift;
    words[i] = v;
  }
  uint64_t s[4];
  for (int i = 0; i < 4; ++i) {
    s[i] = static_cast<uint64_t>(words[2 * i]) |
           (static_cast<uint64_t>(words[2 * i + 1]) << 32);
  }
  const U128 initstate = (static_cast<U128>(s[0]) << 64) | s[1];
  const U128 initseq = (static_cast<U128>(s[2]) << 64) | s[3];
  const U128 inc = (initseq << 1) | 1u;

  Pcg64 g;
  g.inc_hi_ = static_cast<uint64_t>(inc >> 64);
  g.inc_lo_ = static_cast<uint64_t>(inc);
  g.Step();  // from state 0
  const U128 state = ((static_cast<U128>(g.state_hi_) << 64) | g.state_lo_) + initstate;
  g.state_hi_ = static_cast<uint64_t>(state >> 64);
  g.state_lo_ = static_cast<uint64_t>(state);
  g.Step();
  return g;
}

void Pcg64::Step() {
  const U128 state = (static_cast<U128>(state_hi_) << 64) | state_lo_;
  const U128 inc = (static_cast<U128>(inc_hi_) << 64) | inc_lo_;
  const U128 next = state * kPcgMultiplier + inc;
  state_hi_ = static_cast<uint64_t>(next >> 64);
  state_lo_ = static_cast<uint64_t>(next);
}

// pcg_setseq_128_xsl_rr_64_random_r: step first, then output from the new state.
uint64_t Pcg64::Next64() {
  Step();
  const uint64_t value = state_hi_ ^ state_lo_;
  const unsigned rot = static_cast<unsigned>(state_hi_ >> 58);  // state >> 122
  return (value >> rot) | (value << ((64u - rot) & 63u));
}

void Pcg64::FillRandom(double* out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = NextDouble();
}

}  // namespace dn::native
