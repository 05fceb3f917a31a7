#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/buffer.h"

namespace dn {

/// Index of a node inside its PickleTree.
using NodeId = uint32_t;
inline constexpr NodeId kNoNode = std::numeric_limits<NodeId>::max();

/// What a pickle node stands for. Nothing is ever called: globals are names, and
/// REDUCE / NEWOBJ / BUILD are recorded as nodes (see protocol/README.md).
enum class PickleKind : uint8_t {
  kNone,
  kBool,
  kInt,   ///< fits int64: `int_value`
  kLong,  ///< larger int: `data` is minimal little-endian two's complement
  kFloat,
  kStr,  ///< `data` is UTF-8 (surrogates allowed, as pickle's surrogatepass)
  kBytes,
  kByteArray,
  kTuple,      ///< `items`
  kList,       ///< `items`
  kDict,       ///< `items` = k0, v0, k1, v1, ...
  kSet,        ///< `items`
  kFrozenSet,  ///< `items`
  kGlobal,     ///< `module()`/`name()`; STACK_GLOBAL form keeps the two str nodes in `items`
  kReduce,     ///< `items` = callable, args tuple
  kNewObj,     ///< `items` = cls, args tuple
  kNewObjEx,   ///< `items` = cls, args tuple, kwargs dict
  kBuffer,     ///< out-of-band buffer number `int_value`; `flag` = read-only
};

/// Return the kind's name, e.g. "reduce".
std::string_view ToString(PickleKind kind);

/// One node of an inert pickle object tree. Nodes refer to each other by NodeId, so
/// shared and even cyclic references (through the memo) are plain indices.
struct PickleNode {
  PickleKind kind = PickleKind::kNone;
  /// The object was memoized right after it was built (MEMOIZE/PUT); the writer emits
  /// the memo entry at the same place, which makes re-emitted bytes identical.
  bool memoized = false;
  /// kBool value; kBuffer read-only flag.
  bool flag = false;
  int64_t int_value = 0;
  double float_value = 0;
  /// kStr, kBytes, kByteArray, kLong payload; for a GLOBAL-form kGlobal, "module\nname".
  Buffer data;
  std::vector<NodeId> items;
  /// Argument of BUILD applied to this object, or kNoNode.
  NodeId state = kNoNode;
  /// APPEND(S) applied to a non-list object (kReduce/kNewObj), e.g. a list subclass.
  std::vector<NodeId> list_items;
  /// SETITEM(S) applied to a non-dict object: k0, v0, k1, v1, ...
  std::vector<NodeId> dict_items;
  /// Values built right after this one and then discarded with POP: the calls CPython
  /// writes for a `__reduce__` state setter (`setter(obj, state)`, as cloudpickle uses
  /// for functions). Recorded, like everything else, never run.
  std::vector<NodeId> effects;
};

/// An inert object tree read from a pickle, or built to be written as one.
///
/// Owns its nodes and shares the input bytes and out-of-band buffers (str and bytes
/// payloads are slices of the pickle, never copies). Builder methods set `memoized` the
/// way CPython's pickler would, so a tree built here pickles to CPython's exact bytes.
class PickleTree {
 public:
  const PickleNode& node(NodeId id) const { return nodes_[id]; }
  PickleNode& mutable_node(NodeId id) { return nodes_[id]; }
  size_t size() const { return nodes_.size(); }
  NodeId root() const { return root_; }
  void set_root(NodeId id) { root_ = id; }
  /// Protocol named by the PROTO opcode (0 if absent).
  int protocol() const { return protocol_; }
  void set_protocol(int p) { protocol_ = p; }
  /// Out-of-band buffers, in NEXT_BUFFER order.
  const std::vector<Buffer>& buffers() const { return buffers_; }
  std::vector<Buffer>& mutable_buffers() { return buffers_; }

  /// Append a node and return its id.
  NodeId Add(PickleNode node);
  /// Reserve room for `n` nodes.
  void Reserve(size_t n) { nodes_.reserve(n); }

  NodeId AddNone();
  NodeId AddBool(bool b);
  NodeId AddInt(int64_t i);
  NodeId AddFloat(double d);
  NodeId AddStr(std::string_view s);
  NodeId AddBytes(std::string_view b);
  NodeId AddTuple(std::vector<NodeId> items);
  NodeId AddList(std::vector<NodeId> items);
  NodeId AddDict(std::vector<NodeId> keys_and_values);
  /// A STACK_GLOBAL reference `module.name` (name may be dotted).
  NodeId AddGlobal(std::string_view module, std::string_view name);
  NodeId AddReduce(NodeId callable, NodeId args, NodeId state = kNoNode);
  NodeId AddNewObj(NodeId cls, NodeId args, NodeId state = kNoNode);
  /// An out-of-band buffer; `buffer` is appended to buffers().
  NodeId AddBuffer(Buffer buffer, bool readonly);

  /// Return the text of a kStr node ("" for other kinds).
  std::string_view str(NodeId id) const;
  /// Return a kGlobal node's module / name ("" for other kinds).
  std::string_view global_module(NodeId id) const;
  std::string_view global_name(NodeId id) const;
  /// True if `id` is a kGlobal naming exactly module.name.
  bool IsGlobal(NodeId id, std::string_view module, std::string_view name) const;

 private:
  std::vector<PickleNode> nodes_;
  std::vector<Buffer> buffers_;
  NodeId root_ = kNoNode;
  int protocol_ = 0;
};

}  // namespace dn
