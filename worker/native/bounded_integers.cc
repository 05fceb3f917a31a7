#include "worker/native/bounded_integers.h"

#include <cassert>
#include <limits>

namespace dn::native {

namespace {

__extension__ typedef unsigned __int128 U128;

constexpr uint32_t kAll32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kAll64 = std::numeric_limits<uint64_t>::max();

// The smallest 2^k - 1 >= max (numpy's gen_mask).
uint64_t MaskCovering(uint64_t max) {
  for (int shift = 1; shift < 64; shift *= 2) max |= max >> shift;
  return max;
}

template <class BitGen>
uint32_t Masked32(BitGen& gen, uint32_t rng, uint32_t mask) {
  uint32_t v;
  do {
    v = gen.Next32() & mask;
  } while (v > rng);
  return v;
}

template <class BitGen>
uint64_t Masked64(BitGen& gen, uint64_t rng, uint64_t mask) {
  uint64_t v;
  do {
    v = gen.Next64() & mask;
  } while (v > rng);
  return v;
}

// Lemire: the high half of word * (rng + 1) is uniform in [0, rng] once the low half is
// at least 2^w mod (rng + 1). The modulo is only worked out when the low half is below
// rng + 1, an upper bound of that threshold. Requires rng < 2^32 - 1.
template <class BitGen>
uint32_t Lemire32(BitGen& gen, uint32_t rng) {
  const uint32_t span = rng + 1;
  uint64_t m = uint64_t{gen.Next32()} * span;
  if (static_cast<uint32_t>(m) < span) {
    const uint32_t threshold = (kAll32 - rng) % span;
    while (static_cast<uint32_t>(m) < threshold) m = uint64_t{gen.Next32()} * span;
  }
  return static_cast<uint32_t>(m >> 32);
}

// As Lemire32 with 64-bit words. Requires rng < 2^64 - 1.
template <class BitGen>
uint64_t Lemire64(BitGen& gen, uint64_t rng) {
  const uint64_t span = rng + 1;
  U128 m = U128{gen.Next64()} * span;
  if (static_cast<uint64_t>(m) < span) {
    const uint64_t threshold = (kAll64 - rng) % span;
    while (static_cast<uint64_t>(m) < threshold) m = U128{gen.Next64()} * span;
  }
  return static_cast<uint64_t>(m >> 64);
}

// Ranges below 2^32 - 1 draw 32-bit words; both fills share this.
template <class BitGen, class UInt>
void Fill32BitRange(BitGen& gen, UInt off, uint32_t rng, BoundedMethod method, UInt* out,
                    int64_t n) {
  if (method == BoundedMethod::kMasked) {
    const auto mask = static_cast<uint32_t>(MaskCovering(rng));
    for (int64_t k = 0; k < n; ++k) out[k] = off + Masked32(gen, rng, mask);
  } else {
    for (int64_t k = 0; k < n; ++k) out[k] = off + Lemire32(gen, rng);
  }
}

}  // namespace

template <class BitGen>
void FillBoundedUint64(BitGen& gen, uint64_t off, uint64_t rng, BoundedMethod method, uint64_t* out,
                       int64_t n) {
  if (rng == 0) {
    for (int64_t k = 0; k < n; ++k) out[k] = off;
  } else if (rng == kAll32) {  // neither method handles a full 32-bit span
    for (int64_t k = 0; k < n; ++k) out[k] = off + gen.Next32();
  } else if (rng < kAll32) {
    Fill32BitRange(gen, off, static_cast<uint32_t>(rng), method, out, n);
  } else if (rng == kAll64) {
    for (int64_t k = 0; k < n; ++k) out[k] = off + gen.Next64();
  } else if (method == BoundedMethod::kMasked) {
    const uint64_t mask = MaskCovering(rng);
    for (int64_t k = 0; k < n; ++k) out[k] = off + Masked64(gen, rng, mask);
  } else {
    for (int64_t k = 0; k < n; ++k) out[k] = off + Lemire64(gen, rng);
  }
}

template <class BitGen>
void FillBoundedUint32(BitGen& gen, uint32_t off, uint32_t rng, BoundedMethod method, uint32_t* out,
                       int64_t n) {
  if (rng == 0) {
    for (int64_t k = 0; k < n; ++k) out[k] = off;
  } else if (rng == kAll32) {
    for (int64_t k = 0; k < n; ++k) out[k] = off + gen.Next32();
  } else {
    Fill32BitRange(gen, off, rng, method, out, n);
  }
}

// _rand_int64: rng = high - low and off = low, both taken modulo 2^64 (the difference
// of two int64 is below 2^64, so the unsigned subtraction is exact). The unsigned
// results are stored into the int64 array as they are.
template <class BitGen>
void FillInt64(BitGen& gen, int64_t low, int64_t high, BoundedMethod method, int64_t* out,
               int64_t n) {
  assert(low <= high);
  const auto off = static_cast<uint64_t>(low);
  FillBoundedUint64(gen, off, static_cast<uint64_t>(high) - off, method,
                    reinterpret_cast<uint64_t*>(out), n);
}

template <class BitGen>
void FillInt32(BitGen& gen, int32_t low, int32_t high, BoundedMethod method, int32_t* out,
               int64_t n) {
  assert(low <= high);
  const auto off = static_cast<uint32_t>(low);
  FillBoundedUint32(gen, off, static_cast<uint32_t>(high) - off, method,
                    reinterpret_cast<uint32_t*>(out), n);
}

#define DN_INSTANTIATE_BOUNDED(BitGen)                                                           \
  template void FillBoundedUint64<BitGen>(BitGen&, uint64_t, uint64_t, BoundedMethod, uint64_t*, \
                                          int64_t);                                              \
  template void FillBoundedUint32<BitGen>(BitGen&, uint32_t, uint32_t, BoundedMethod, uint32_t*, \
                                          int64_t);                                              \
  template void FillInt64<BitGen>(BitGen&, int64_t, int64_t, BoundedMethod, int64_t*, int64_t);  \
  template void FillInt32<BitGen>(BitGen&, int32_t, int32_t, BoundedMethod, int32_t*, int64_t);

DN_INSTANTIATE_BOUNDED(Mt19937)
DN_INSTANTIATE_BOUNDED(Pcg64)

#undef DN_INSTANTIATE_BOUNDED

}  // namespace dn::native
