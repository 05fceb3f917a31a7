#pragma once

#include "protocol/msgpack/value.h"

namespace dn {

/// Return a deep copy of `v` whose bytes (bin values, the frames of serialized and
/// pickled values) are copied into buffers of their own.
///
/// Decoded values share the frame they came in (Bin, Serialized and Pickled slice it),
/// so keeping one alive keeps the whole received batch alive. What the scheduler keeps
/// for a long time (events, task-stream records) is copied this way first.
Value OwnedValue(const Value& v);

}  // namespace dn
