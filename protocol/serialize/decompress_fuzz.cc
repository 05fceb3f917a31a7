// Fuzz both decompressors; the first byte picks the codec.
#include <cstdint>
#include <string_view>

#include "protocol/serialize/compression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  dn::Buffer input =
      dn::Buffer::CopyFrom(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  auto out = dn::Decompress(data[0] & 1 ? "zstd" : "lz4", input, 1 << 20);
  if (out.ok() && out->size() > (1 << 20)) __builtin_trap();
  return 0;
}
