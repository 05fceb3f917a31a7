// Fuzz the pickle reader with two out-of-band buffers; whatever parses must also dump
// and, where the writer accepts it, re-parse to the same canonical dump.
#include <cstdint>
#include <string>

#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dn::Buffer input = dn::Buffer::CopyFrom(
      std::string_view(reinterpret_cast<const char*>(data), size));
  dn::Buffer oob[2] = {dn::Buffer::CopyFrom("abcd"), dn::Buffer::CopyFrom("")};
  dn::PickleLimits limits;
  limits.max_nodes = 1 << 16;
  limits.max_memo = 1 << 16;
  auto tree = dn::ReadPickle(input, oob, limits);
  if (!tree.ok()) return 0;
  auto dump = dn::DumpPickleTree(*tree);
  std::vector<dn::Buffer> out_oob;
  auto written = dn::WritePickle(*tree, 5, &out_oob);
  if (dump.ok() && written.ok()) {
    auto again = dn::ReadPickle(dn::Buffer::FromString(*written), out_oob, limits);
    if (!again.ok()) __builtin_trap();
    auto dump2 = dn::DumpPickleTree(*again);
    if (!dump2.ok() || *dump2 != *dump) __builtin_trap();
  }
  return 0;
}
