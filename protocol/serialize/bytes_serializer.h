#pragma once

#include "common/buffer.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// Return `Serialize(bytes)` in the 'dask' family, as stock sends pickled exceptions
/// and tracebacks (protocol.md §3.5): sub-header {}, type "bytes", one raw frame.
Serialized SerializeBytes(const Buffer& payload);

}  // namespace dn
