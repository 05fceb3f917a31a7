#pragma once

#include "common/buffer.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// Return `Serialize(bytes)` in the 'dask' family, as stock sends pickled exceptions
/// and tracebacks (docs/protocol.md#exceptions): sub-header {}, type "bytes", one raw frame.
Serialized SerializeBytes(const Buffer& payload);

}  // namespace dn
