#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/buffer.h"
#include "common/result.h"
#include "protocol/pickle/pickle_tree.h"

namespace dn {

/// Pickle `tree` from its root with protocol 4 or 5, as CPython's C pickler would:
/// the same opcodes, memo entries (from each node's `memoized` flag), batching of
/// APPENDS/SETITEMS/ADDITEMS and 64 KiB framing. A tree read from a CPython pickle is
/// therefore re-emitted byte for byte. Buffer nodes become NEXT_BUFFER (protocol 5) and
/// their buffers are appended to `out_of_band`, which must then be non-null.
Result<std::string> WritePickle(const PickleTree& tree, int protocol,
                                std::vector<Buffer>* out_of_band = nullptr);

/// Return the pickle of the class `module.name` (what a worker sends as task-finished
/// `type`, e.g. numpy.ndarray), as `pickle.dumps(cls, protocol)` gives it.
std::string PickleGlobalRef(std::string_view module, std::string_view name, int protocol = 5);

/// Return the pickle of `builtins.<name>(message)`, e.g. RuntimeError, as
/// `pickle.dumps(RuntimeError(message), protocol)` gives it: what a worker sends as a
/// task's exception when the failure is its own rather than the task code's.
std::string PickleBuiltinException(std::string_view name, std::string_view message,
                                   int protocol = 5);

/// Return the pickle of a numpy scalar as numpy pickles it:
/// `multiarray_module.scalar(numpy.dtype(dtype_name, False, True), raw)` with dtype state
/// `(3, byteorder, None, None, None, -1, -1, 0)`. `multiarray_module` is
/// "numpy.core.multiarray" (numpy 1.x) or "numpy._core.multiarray" (numpy 2.x);
/// `dtype_name` e.g. "f8", `byteorder` "<" or "|", `raw` the value's native bytes.
std::string PickleNumpyScalar(std::string_view multiarray_module, std::string_view dtype_name,
                              std::string_view byteorder, std::string_view raw, int protocol);

/// Render the tree as canonical text (one form per node kind), for comparing with the
/// reference built from Python's pickletools in tests/. Shared nodes are printed at
/// each use; a node met again inside itself prints as <cycle>.
Result<std::string> DumpPickleTree(const PickleTree& tree);

}  // namespace dn
