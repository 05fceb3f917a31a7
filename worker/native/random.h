#pragma once

// Bit-exact C++ reimplementations of the numpy random streams that dask.array chunk
// tasks draw from, so the native worker can materialise `da.random.*` chunks without
// Python. The algorithms and how they were verified are in
// shared/docs/native-ops.md §5.1; random_test.cc pins them against numpy 2.4.6.
//
// Results are identical to numpy bit for bit as long as this file is compiled without
// -ffast-math and without floating-point contraction (-ffp-contract=off, which is
// what -std=c++20 gives GCC and Clang). The Gaussian draws also depend on libm's `log`
// and `sqrt`; with glibc they match numpy's wheels exactly, another libm may differ by
// an ulp.

#include <cstddef>
#include <cstdint>

namespace dn::native {

/// The MT19937 stream behind numpy's legacy `np.random.RandomState`.
///
/// Mirrors numpy/random/src/mt19937/mt19937.{h,c} (`mt19937_init_by_array`,
/// `mt19937_gen`, `mt19937_next32`, `mt19937_next_double`) together with the legacy
/// `aug_bitgen_t` Gaussian cache of numpy/random/src/legacy/legacy-distributions.c.
/// A default-constructed generator is unseeded (all-zero state); call InitByArray
/// first. The object is a plain value (about 2.5 KB): copy it to fork a stream. It is
/// not thread-safe; give each thread its own.
class Mt19937 {
 public:
  /// Number of 32-bit words in the state (numpy's RK_STATE_LEN).
  static constexpr int kStateWords = 624;

  Mt19937() = default;

  /// Seed from `key[0..n)` exactly as `np.random.RandomState(key)` does for an array
  /// seed (`_legacy_seeding` -> `mt19937_init_by_array`): `init_genrand(19650218)`, the
  /// two mixing loops, then `mt[0] = 0x80000000`. Afterwards the next draw regenerates
  /// the state (pos == 624) and the Gaussian cache is empty. Requires n >= 1 (numpy
  /// rejects an empty seed). dask's `random_state_data` passes 624 words per chunk.
  void InitByArray(const uint32_t* key, size_t n);

  /// Return the next tempered 32-bit output (`mt19937_next32`).
  uint32_t Next32() {
    if (pos_ == kStateWords) Regenerate();
    return Temper(mt_[pos_++]);
  }

  /// Return the next 64-bit output as numpy's MT19937 bit generator forms it
  /// (`mt19937_next64`): the first word is the high half. The legacy masked `randint`
  /// draws these for ranges wider than 32 bits.
  uint64_t Next64() {
    const uint64_t hi = Next32();
    return (hi << 32) | Next32();
  }

  /// Return a double in [0, 1) with 53 random bits from two words, as
  /// `RandomState.random_sample` does (`mt19937_next_double`):
  /// `(a * 2^26 + b) / 2^53` with `a = next32 >> 5`, `b = next32 >> 6`.
  double NextDouble() {
    const uint32_t a = Next32() >> 5;
    const uint32_t b = Next32() >> 6;
    return ToDouble(a, b);
  }

  /// Return a standard normal draw exactly as numpy's `legacy_gauss` (polar
  /// Box–Muller): each rejection-sampled pair yields two values; the second is cached
  /// and returned by the next call. `RandomState.standard_normal` is this.
  double NextGauss();

  /// Fill `out[0..n)` with `random_sample` doubles; the same values as n calls of
  /// NextDouble, but in tight loops over whole 624-word blocks. Uses the fastest
  /// Kernel this CPU supports (BestKernel()); every kernel gives the same bits.
  void FillRandomSample(double* out, int64_t n);

  /// The implementations of the regeneration and of the temper-and-convert loop.
  /// kAvx2 and kAvx512 are compiled for those instruction sets only (no global flags)
  /// and picked at run time, so the binary still runs on any x86-64 (or other) CPU.
  enum class Kernel { kScalar, kAvx2, kAvx512 };
  /// Whether this build and this CPU can run `kernel` (kScalar: always).
  static bool KernelSupported(Kernel kernel);
  /// The kernel FillRandomSample and Next32's regeneration use: AVX-512 (F and DQ),
  /// else AVX2, else scalar. Detected once.
  static Kernel BestKernel();
  /// FillRandomSample with a given kernel, for tests and benchmarks. Requires
  /// KernelSupported(kernel).
  void FillRandomSampleWith(Kernel kernel, double* out, int64_t n);

  /// Fill `out[0..n)` as `RandomState.uniform(low, high, n)`: numpy's `random_uniform`,
  /// `low + (high - low) * d` with `high - low` rounded once, d from NextDouble.
  void FillUniform(double* out, int64_t n, double low, double high);

  /// Fill `out[0..n)` as `RandomState.normal(loc, scale, n)`: numpy's `legacy_normal`,
  /// `loc + scale * NextGauss()`. Uses and updates the Gaussian cache.
  void FillNormal(double* out, int64_t n, double loc, double scale);

  /// Fill `out[0..n)` as `RandomState.standard_normal(n)`: n calls of NextGauss.
  void FillStandardNormal(double* out, int64_t n);

  /// The raw state words, as in `RandomState.get_state()[1]`.
  const uint32_t* key() const { return mt_; }
  /// The next word to use, as in `get_state()[2]` (624 means "regenerate first").
  int pos() const { return pos_; }
  /// Whether a cached Gaussian is pending, as in `get_state()[3]`.
  bool has_gauss() const { return has_gauss_; }

 private:
  static uint32_t Temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }
  static double ToDouble(uint32_t a, uint32_t b) {
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }
  /// Refill all 624 words (`mt19937_gen`) and reset pos_ to 0.
  void Regenerate();
  /// Temper words[0..2*pairs) and write the doubles of consecutive word pairs.
  using PairsFn = void (*)(const uint32_t* words, double* out, int64_t pairs);
  using RegenFn = void (*)(uint32_t* mt);
  void Fill(RegenFn regen, PairsFn pairs, double* out, int64_t n);
  /// Fill, with `pairs_stream` (non-temporal stores) when the output is large.
  void FillMaybeStreaming(RegenFn regen, PairsFn pairs, PairsFn pairs_stream, double* out,
                          int64_t n);

  // Cache-line aligned: the SIMD kernels load and store it in 32/64-byte blocks.
  alignas(64) uint32_t mt_[kStateWords] = {};
  int pos_ = kStateWords;
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

/// The PCG64 (XSL-RR 128/64) stream behind `np.random.Generator(np.random.PCG64(ss))`,
/// which is what `np.random.default_rng(seed_sequence)` builds.
///
/// Mirrors numpy/random/src/pcg64/pcg64.{h,c} (`pcg64_set_seed`, `pcg64_next64`,
/// `pcg64_next32`, `pcg64_next_double`) and the seeding in numpy/random/_pcg64.pyx,
/// which draws `SeedSequence.generate_state(4, np.uint64)`
/// (numpy/random/bit_generator.pyx). A plain value type; not thread-safe.
class Pcg64 {
 public:
  /// Build the generator `PCG64(ss)` for a SeedSequence whose entropy pool is
  /// `ss.pool` (4 uint32 words, the default pool_size). dask ships spawned
  /// SeedSequences in the task, so the pool is available without redoing the
  /// SeedSequence entropy mixing.
  static Pcg64 FromSeedSequencePool(const uint32_t pool[4]);

  /// Return the next 64-bit output (`pcg64_next64`: advance, then XSL-RR output).
  uint64_t Next64();

  /// Return the next 32-bit output (`pcg64_next32`): the low half of a fresh Next64,
  /// whose high half is kept and returned by the following call. Next64 and
  /// NextDouble neither use nor clear the kept half, as in numpy.
  uint32_t Next32() {
    if (has_uint32_) {
      has_uint32_ = false;
      return uinteger_;
    }
    const uint64_t next = Next64();
    has_uint32_ = true;
    uinteger_ = static_cast<uint32_t>(next >> 32);
    return static_cast<uint32_t>(next);
  }

  /// Return a double in [0, 1): `(Next64() >> 11) * 2^-53` (`pcg64_next_double`).
  double NextDouble() { return static_cast<double>(Next64() >> 11) * (1.0 / 9007199254740992.0); }

  /// Fill `out[0..n)` as `Generator.random(n)` (float64): n calls of NextDouble.
  void FillRandom(double* out, int64_t n);

  /// Fill `out[0..n)` as `Generator.uniform(low, high, n)` for scalar bounds: numpy's
  /// `random_uniform`, `low + (high - low) * NextDouble()` with `high - low` rounded
  /// once. numpy rejects a non-finite or sign-bit-set `high - low` before drawing;
  /// callers must do the same.
  void FillUniform(double* out, int64_t n, double low, double high);

  /// The 128-bit LCG state and increment in halves, as in
  /// `PCG64.state["state"]["state"]` and `["inc"]`.
  uint64_t state_hi() const { return state_hi_; }
  uint64_t state_lo() const { return state_lo_; }
  uint64_t inc_hi() const { return inc_hi_; }
  uint64_t inc_lo() const { return inc_lo_; }

 private:
  Pcg64() = default;
  /// state = state * multiplier + inc (mod 2^128).
  void Step();

  uint64_t state_hi_ = 0;
  uint64_t state_lo_ = 0;
  uint64_t inc_hi_ = 0;
  uint64_t inc_lo_ = 0;
  bool has_uint32_ = false;  ///< numpy's `has_uint32`: uinteger_ is pending
  uint32_t uinteger_ = 0;
};

}  // namespace dn::native
