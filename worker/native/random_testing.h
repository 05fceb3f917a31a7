#pragma once

// Test helpers shared by the random-stream tests.

#include <cstdint>
#include <vector>

namespace dn::native::testing {

/// tests/worker/gen_random_expected.py's checksum of a stream's raw 64-bit values:
/// the sum mod 2^64 of splitmix64(bits[i] + i * golden), so order and every bit count.
inline uint64_t StreamChecksum(const std::vector<uint64_t>& bits) {
  uint64_t h = 0;
  for (size_t i = 0; i < bits.size(); ++i) {
    uint64_t z = bits[i] + i * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    h += z ^ (z >> 31);
  }
  return h;
}

}  // namespace dn::native::testing
