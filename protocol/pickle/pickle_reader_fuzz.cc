// Fuzz the pickle reader with two out-of-band buffers; whatever parses must also dump
// and, where the writer accepts it, re-parse to the same canonical dump.
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"

namespace {

// Buffer numbers follow NEXT_BUFFER order, which a rewrite may change when a discarded
// value (an effect) was read after later siblings; compare dumps without them.
std::string WithoutBufferNumbers(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 7, "buffer(") == 0) {
      out += "buffer(";
      i += 7;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    } else {
      out += s[i++];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dn::Buffer input =
      dn::Buffer::CopyFrom(std::string_view(reinterpret_cast<const char*>(data), size));
  dn::Buffer oob[2] = {dn::Buffer::CopyFrom("abcd"), dn::Buffer::CopyFrom("")};
  dn::PickleLimits limits;
  limits.max_nodes = 1 << 16;
  limits.max_memo = 1 << 16;
  auto tree = dn::ReadPickle(input, oob, limits);
  if (!tree.ok()) return 0;
  (void)dn::MatchNumpyScalar(*tree);  // must not crash on any tree
  auto dump = dn::DumpPickleTree(*tree);
  std::vector<dn::Buffer> out_oob;
  auto written = dn::WritePickle(*tree, 5, &out_oob);
  if (dump.ok() && written.ok()) {
    auto again = dn::ReadPickle(dn::Buffer::FromString(*written), out_oob, limits);
    if (!again.ok()) __builtin_trap();
    auto dump2 = dn::DumpPickleTree(*again);
    if (!dump2.ok() || WithoutBufferNumbers(*dump2) != WithoutBufferNumbers(*dump)) {
      __builtin_trap();
    }
  }
  return 0;
}
