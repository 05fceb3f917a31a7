#include "protocol/serialize/bytes_serializer.h"

#include "protocol/pickle/pickle_writer.h"

namespace dn {

Serialized SerializeBytes(const Buffer& payload) {
  static const Buffer kBytesType = Buffer::FromString(PickleGlobalRef("builtins", "bytes", 5));
  Serialized s;
  s.header = Map{{Value("sub-header"), Value(Map{})},
                 {Value("type"), Value("bytes")},
                 {Value("type-serialized"), Value(Bin{kBytesType})},
                 {Value("serializer"), Value("dask")},
                 {Value("split-num-sub-frames"), Value(Array{Value(1)})},
                 {Value("split-offsets"), Value(Array{Value(0)})},
                 {Value("compression"), Value(Array{Value()})},
                 {Value("num-sub-frames"), Value(1)}};
  s.frames = {payload};
  return s;
}

}  // namespace dn
