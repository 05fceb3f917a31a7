#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/buffer.h"
#include "common/result.h"
#include "protocol/pickle/pickle_tree.h"

namespace dn {

/// Bounds for reading an untrusted pickle.
struct PickleLimits {
  /// Most nodes one pickle may create (each costs ~150 bytes). The seed chunk task has
  /// ~60; a 100k-key fused graph a few million.
  uint64_t max_nodes = uint64_t{1} << 24;
  /// Highest memo index + 1 (BINPUT/LONG_BINPUT may name any index up to 2^32; the memo
  /// table is sized by the highest one, 4 bytes an entry).
  uint64_t max_memo = uint64_t{1} << 22;
};

/// Read a pickle (protocols 2-5) into an inert tree, executing nothing.
///
/// `buffers` are the pickle-5 out-of-band buffers that NEXT_BUFFER takes in order.
/// Unknown or unsupported opcodes (text forms of protocol 0/1, PERSID, EXT, INST/OBJ),
/// stack or memo misuse, truncation and limit overruns give a ProtocolError; the
/// reader never crashes and never allocates more than the input and limits allow.
/// Bytes after STOP are ignored, as pickle.loads does.
Result<PickleTree> ReadPickle(const Buffer& data, std::span<const Buffer> buffers = {},
                              const PickleLimits& limits = {});

/// A numpy scalar as numpy pickles it (the inverse of PickleNumpyScalar):
/// `multiarray.scalar(dtype(name, False, True) + BUILD(state), raw)`.
struct NumpyScalarPickle {
  std::string dtype_name;  ///< e.g. "f8", "i8", "b1"
  std::string byteorder;   ///< "<", ">" or "|"
  Buffer raw;              ///< the value's bytes, in `byteorder`
};

/// Match a tree read by ReadPickle against that shape (numpy 1.x or 2.x module names);
/// nullopt for anything else.
std::optional<NumpyScalarPickle> MatchNumpyScalar(const PickleTree& tree);
/// The same match at node `id` of the tree (e.g. a numpy integer inside a key tuple).
std::optional<NumpyScalarPickle> MatchNumpyScalar(const PickleTree& tree, NodeId id);

}  // namespace dn
