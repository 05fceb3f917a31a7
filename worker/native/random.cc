#include "worker/native/random.h"

#include <cassert>
#include <cmath>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DN_MT_X86_KERNELS 1
// GCC 12's _mm512_undefined_* are `__m512i __Y = __Y;`, which -Wuninitialized flags
// wherever an AVX-512 intrinsic is inlined (GCC PR 105593, fixed in 12.3/13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#else
#define DN_MT_X86_KERNELS 0
#endif

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

inline uint32_t Temper(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

// 2^26 and 2^-53. `(a * 2^26 + b) * 2^-53` is bit-identical to numpy's
// `(a * 67108864.0 + b) / 9007199254740992.0`: a < 2^27 and b < 2^26 convert exactly,
// a * 2^26 + b is an integer below 2^53 (exact, with or without an FMA), and scaling
// by a power of two is exact both as a division and as a multiplication (the result
// is 0 or at least 2^-53, far from the subnormals).
constexpr double kTwo26 = 67108864.0;
constexpr double kTwoMinus53 = 1.0 / 9007199254740992.0;
// Fills of at least this many doubles (1 MiB) use non-temporal stores (MtKernelFns).
constexpr int64_t kStreamAbove = int64_t{1} << 17;

// ---- Scalar kernel (any CPU): the reference for the SIMD kernels. ----

// Mirrors mt19937_gen; the loop split avoids a modulo per word.
void RegenerateScalar(uint32_t* mt) {
  int i = 0;
  for (; i < kN - kM; ++i) mt[i] = Twist(mt[i], mt[i + 1], mt[i + kM]);
  for (; i < kN - 1; ++i) mt[i] = Twist(mt[i], mt[i + 1], mt[i + (kM - kN)]);
  mt[kN - 1] = Twist(mt[kN - 1], mt[0], mt[kM - 1]);
}

void PairsScalar(const uint32_t* w, double* out, int64_t pairs) {
  for (int64_t k = 0; k < pairs; ++k) {
    // Both halves are < 2^27, so the int32 conversion is exact and vectorises.
    const auto a = static_cast<int32_t>(Temper(w[2 * k]) >> 5);
    const auto b = static_cast<int32_t>(Temper(w[2 * k + 1]) >> 6);
    out[k] = (a * kTwo26 + b) * kTwoMinus53;
  }
}

#if DN_MT_X86_KERNELS

// ---- AVX2 kernel: 8 words per vector. ----
//
// The regeneration in blocks of W lanes is exact because within the first loop
// (i < 227) a block reads mt[i..i+W] and mt[i+397..i+397+W), none of which an earlier
// block or this block has written yet (the scalar loop also reads mt[i+1] before
// overwriting it); within the second loop (227 <= i < 623) it reads mt[i-227..i-227+W),
// all written by earlier blocks (227 > W). Only the block straddling i = 227 and the
// one holding i = 623 need their `far` or `next` operand spliced from two loads.

#define DN_AVX2 __attribute__((target("avx2"), always_inline)) inline

DN_AVX2 __m256i Twist8(__m256i cur, __m256i next, __m256i far) {
  const __m256i y = _mm256_or_si256(_mm256_and_si256(cur, _mm256_set1_epi32(kUpperMask)),
                                    _mm256_and_si256(next, _mm256_set1_epi32(kLowerMask)));
  // -(y & 1) & kMatrixA: bit 0 moved to the sign bit and smeared.
  const __m256i mag = _mm256_and_si256(_mm256_srai_epi32(_mm256_slli_epi32(y, 31), 31),
                                       _mm256_set1_epi32(static_cast<int>(kMatrixA)));
  return _mm256_xor_si256(_mm256_xor_si256(far, _mm256_srli_epi32(y, 1)), mag);
}

DN_AVX2 __m256i Temper8(__m256i y) {
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
  y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7),
                                           _mm256_set1_epi32(static_cast<int>(0x9d2c5680u))));
  y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15),
                                           _mm256_set1_epi32(static_cast<int>(0xefc60000u))));
  return _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
}

DN_AVX2 __m256i Load8(const uint32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

DN_AVX2 void Store8(uint32_t* p, __m256i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}

// 78 blocks of 8, no scalar words: the block at 224 straddles the loop split (its
// first 3 lanes take `far` from old mt[621..623], the other 5 from new mt[0..4]), and
// the last block's lane for i = 623 takes `next` from the new mt[0].
__attribute__((target("avx2"))) void RegenerateAvx2(uint32_t* mt) {
  static_assert(kN == 624 && kM == 397, "block layout below assumes MT19937's N, M");
  int i = 0;
  for (; i < 224; i += 8) {
    Store8(mt + i, Twist8(Load8(mt + i), Load8(mt + i + 1), Load8(mt + i + kM)));
  }
  {  // i = 224
    // far = old mt[621..623] (lanes 5..7 of mt[616..624)), then new mt[0..4].
    const __m256i old_tail =
        _mm256_permutevar8x32_epi32(Load8(mt + 616), _mm256_setr_epi32(5, 6, 7, 0, 0, 0, 0, 0));
    const __m256i new_head =
        _mm256_permutevar8x32_epi32(Load8(mt), _mm256_setr_epi32(0, 0, 0, 0, 1, 2, 3, 4));
    const __m256i far = _mm256_blend_epi32(old_tail, new_head, 0xf8);
    Store8(mt + 224, Twist8(Load8(mt + 224), Load8(mt + 225), far));
  }
  for (i = 232; i < 616; i += 8) {
    Store8(mt + i, Twist8(Load8(mt + i), Load8(mt + i + 1), Load8(mt + i + (kM - kN))));
  }
  {  // i = 616: lanes 616..623; mt[624] would be the new mt[0]
    const __m256i cur = Load8(mt + 616);
    const __m256i shifted =
        _mm256_permutevar8x32_epi32(cur, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0));
    const __m256i next =
        _mm256_blend_epi32(shifted, _mm256_set1_epi32(static_cast<int>(mt[0])), 0x80);
    Store8(mt + 616, Twist8(cur, next, Load8(mt + 616 + (kM - kN))));
  }
}

// With kStream, aligned output goes out with non-temporal stores (see PairsStream).
template <bool kStream>
DN_AVX2 void PairsAvx2Body(const uint32_t* w, double* out, int64_t pairs) {
  const __m256i deinterleave = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i shifts = _mm256_setr_epi32(5, 5, 5, 5, 6, 6, 6, 6);
  const __m256d two26 = _mm256_set1_pd(kTwo26);
  const __m256d scale = _mm256_set1_pd(kTwoMinus53);
  const bool stream = kStream && reinterpret_cast<uintptr_t>(out) % 32 == 0;
  int64_t k = 0;
  for (; k + 4 <= pairs; k += 4) {
    __m256i t = Temper8(Load8(w + 2 * k));
    t = _mm256_srlv_epi32(_mm256_permutevar8x32_epi32(t, deinterleave), shifts);
    const __m256d a = _mm256_cvtepi32_pd(_mm256_castsi256_si128(t));
    const __m256d b = _mm256_cvtepi32_pd(_mm256_extracti128_si256(t, 1));
    const __m256d v =
        _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(a, two26), b), scale);  // exact integer, scaled
    if (stream) {
      _mm256_stream_pd(out + k, v);
    } else {
      _mm256_storeu_pd(out + k, v);
    }
  }
  PairsScalar(w + 2 * k, out + k, pairs - k);
}

// 8 words -> 4 doubles: gather the even words (a) into the low half and the odd words
// (b) into the high half, shift by 5 and 6, convert both halves exactly.
__attribute__((target("avx2"))) void PairsAvx2(const uint32_t* w, double* out, int64_t pairs) {
  PairsAvx2Body<false>(w, out, pairs);
}
__attribute__((target("avx2"))) void PairsAvx2Stream(const uint32_t* w, double* out,
                                                     int64_t pairs) {
  PairsAvx2Body<true>(w, out, pairs);
}

#undef DN_AVX2

// ---- AVX-512 kernel (F + DQ): 16 words per vector, same block layout as AVX2. ----

#define DN_AVX512 __attribute__((target("avx512f,avx512dq"), always_inline)) inline

DN_AVX512 __m512i Twist16(__m512i cur, __m512i next, __m512i far) {
  // (cur & upper) | (next & ~upper): a bitwise select, one vpternlogd.
  const __m512i y = _mm512_ternarylogic_epi32(_mm512_set1_epi32(kUpperMask), cur, next, 0xca);
  // far ^ (y >> 1): then ^ kMatrixA where y is odd (y & 1 == next & 1).
  const __m512i r = _mm512_xor_si512(far, _mm512_srli_epi32(y, 1));
  const __mmask16 odd = _mm512_test_epi32_mask(next, _mm512_set1_epi32(1));
  return _mm512_mask_xor_epi32(r, odd, r, _mm512_set1_epi32(static_cast<int>(kMatrixA)));
}

DN_AVX512 __m512i Temper16(__m512i y) {
  y = _mm512_xor_si512(y, _mm512_srli_epi32(y, 11));
  y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 7),
                                           _mm512_set1_epi32(static_cast<int>(0x9d2c5680u))));
  y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 15),
                                           _mm512_set1_epi32(static_cast<int>(0xefc60000u))));
  return _mm512_xor_si512(y, _mm512_srli_epi32(y, 18));
}

DN_AVX512 __m512i Load16(const uint32_t* p) { return _mm512_loadu_si512(p); }

// 39 blocks of 16, no scalar words (see RegenerateAvx2).
__attribute__((target("avx512f,avx512dq"))) void RegenerateAvx512(uint32_t* mt) {
  static_assert(kN == 624 && kM == 397, "block layout below assumes MT19937's N, M");
  int i = 0;
  for (; i < 224; i += 16) {
    _mm512_storeu_si512(mt + i, Twist16(Load16(mt + i), Load16(mt + i + 1), Load16(mt + i + kM)));
  }
  {  // i = 224: far = old mt[621..623] then new mt[0..12]
    const __m512i far = _mm512_alignr_epi32(Load16(mt), Load16(mt + 608), 13);
    _mm512_storeu_si512(mt + 224, Twist16(Load16(mt + 224), Load16(mt + 225), far));
  }
  for (i = 240; i < 608; i += 16) {
    _mm512_storeu_si512(mt + i,
                        Twist16(Load16(mt + i), Load16(mt + i + 1), Load16(mt + i + (kM - kN))));
  }
  {  // i = 608: lanes 608..623; next for 623 is the new mt[0]
    const __m512i cur = Load16(mt + 608);
    const __m512i next = _mm512_alignr_epi32(Load16(mt), cur, 1);
    _mm512_storeu_si512(mt + 608, Twist16(cur, next, Load16(mt + 608 + (kM - kN))));
  }
}

// 16 words -> 8 doubles. Each 64-bit lane holds a pair (a word low, b word high), so
// a * 2^26 + b = ((lane << 21) & bits 26..52) | (lane >> 38) is formed in place and
// converted exactly (it is below 2^53) by vcvtqq2pd.
template <bool kStream>
DN_AVX512 void PairsAvx512Body(const uint32_t* w, double* out, int64_t pairs) {
  const __m512i a_bits = _mm512_set1_epi64(0x001ffffffc000000LL);
  const __m512d scale = _mm512_set1_pd(kTwoMinus53);
  const bool stream = kStream && reinterpret_cast<uintptr_t>(out) % 64 == 0;
  int64_t k = 0;
  for (; k + 8 <= pairs; k += 8) {
    const __m512i t = Temper16(Load16(w + 2 * k));
    const __m512i v = _mm512_or_si512(_mm512_and_si512(_mm512_slli_epi64(t, 21), a_bits),
                                      _mm512_srli_epi64(t, 38));
    const __m512d d = _mm512_mul_pd(_mm512_cvtepi64_pd(v), scale);
    if (stream) {
      _mm512_stream_pd(out + k, d);
    } else {
      _mm512_storeu_pd(out + k, d);
    }
  }
  PairsScalar(w + 2 * k, out + k, pairs - k);
}

__attribute__((target("avx512f,avx512dq"))) void PairsAvx512(const uint32_t* w, double* out,
                                                             int64_t pairs) {
  PairsAvx512Body<false>(w, out, pairs);
}
__attribute__((target("avx512f,avx512dq"))) void PairsAvx512Stream(const uint32_t* w, double* out,
                                                                   int64_t pairs) {
  PairsAvx512Body<true>(w, out, pairs);
}

#undef DN_AVX512

#endif  // DN_MT_X86_KERNELS

struct MtKernelFns {
  void (*regen)(uint32_t*);
  void (*pairs)(const uint32_t*, double*, int64_t);
  // The same output with non-temporal stores where aligned: a large chunk's doubles
  // are not read again soon, and streaming them skips the read-for-ownership of each
  // cache line, which otherwise doubles the memory traffic of a fill bound by it.
  // A store fence must follow before another thread reads the output.
  void (*pairs_stream)(const uint32_t*, double*, int64_t);
};

MtKernelFns KernelFns(Mt19937::Kernel kernel) {
  switch (kernel) {
#if DN_MT_X86_KERNELS
    case Mt19937::Kernel::kAvx512: return {RegenerateAvx512, PairsAvx512, PairsAvx512Stream};
    case Mt19937::Kernel::kAvx2: return {RegenerateAvx2, PairsAvx2, PairsAvx2Stream};
#endif
    default: return {RegenerateScalar, PairsScalar, PairsScalar};
  }
}

const MtKernelFns& BestKernelFns() {
  static const MtKernelFns fns = KernelFns(Mt19937::BestKernel());
  return fns;
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
    mt[i] =
        (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt[0] = mt[kN - 1];
      i = 1;
    }
    if (j >= n) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
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

bool Mt19937::KernelSupported(Kernel kernel) {
  switch (kernel) {
    case Kernel::kScalar: return true;
#if DN_MT_X86_KERNELS
    case Kernel::kAvx2: return __builtin_cpu_supports("avx2");
    case Kernel::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#endif
    default: return false;
  }
}

Mt19937::Kernel Mt19937::BestKernel() {
  static const Kernel best = KernelSupported(Kernel::kAvx512) ? Kernel::kAvx512
                             : KernelSupported(Kernel::kAvx2) ? Kernel::kAvx2
                                                              : Kernel::kScalar;
  return best;
}

void Mt19937::Regenerate() {
  BestKernelFns().regen(mt_);
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

void Mt19937::FillRandomSample(double* out, int64_t n) {
  const MtKernelFns& fns = BestKernelFns();
  FillMaybeStreaming(fns.regen, fns.pairs, fns.pairs_stream, out, n);
}

void Mt19937::FillRandomSampleWith(Kernel kernel, double* out, int64_t n) {
  assert(KernelSupported(kernel));
  const MtKernelFns fns = KernelFns(kernel);
  FillMaybeStreaming(fns.regen, fns.pairs, fns.pairs_stream, out, n);
}

void Mt19937::FillMaybeStreaming(RegenFn regen, PairsFn pairs, PairsFn pairs_stream, double* out,
                                 int64_t n) {
  if (n < kStreamAbove) {
    Fill(regen, pairs, out, n);
    return;
  }
  Fill(regen, pairs_stream, out, n);
#if DN_MT_X86_KERNELS
  _mm_sfence();
#endif
}

// Works block by block: the words left in the current block are tempered and paired
// straight from mt_, so the inner loop has no regeneration check. A double whose two
// words straddle a regeneration (only after an odd number of Next32 calls) takes its
// first word from the old block and its second from the new one, as NextDouble does.
void Mt19937::Fill(RegenFn regen, PairsFn pairs_fn, double* out, int64_t n) {
  while (n > 0) {
    if (pos_ == kN) {
      regen(mt_);
      pos_ = 0;
    }
    int64_t pairs = (kN - pos_) / 2;
    if (pairs == 0) {  // pos_ == kN - 1
      const uint32_t a = Temper(mt_[pos_]) >> 5;
      regen(mt_);
      const uint32_t b = Temper(mt_[0]) >> 6;
      pos_ = 1;
      *out++ = ToDouble(a, b);
      --n;
      continue;
    }
    if (pairs > n) pairs = n;
    pairs_fn(mt_ + pos_, out, pairs);
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
    s[i] = static_cast<uint64_t>(words[2 * i]) | (static_cast<uint64_t>(words[2 * i + 1]) << 32);
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

// As Mt19937::FillUniform; _generator.pyx's uniform() passes (low, high - low).
void Pcg64::FillUniform(double* out, int64_t n, double low, double high) {
  const double range = high - low;
  for (int64_t k = 0; k < n; ++k) out[k] = low + range * NextDouble();
}

}  // namespace dn::native
