#include "protocol/pickle/pickle_tree.h"

namespace dn {

std::string_view ToString(PickleKind kind) {
  switch (kind) {
    case PickleKind::kNone: return "none";
    case PickleKind::kBool: return "bool";
    case PickleKind::kInt: return "int";
    case PickleKind::kLong: return "long";
    case PickleKind::kFloat: return "float";
    case PickleKind::kStr: return "str";
    case PickleKind::kBytes: return "bytes";
    case PickleKind::kByteArray: return "bytearray";
    case PickleKind::kTuple: return "tuple";
    case PickleKind::kList: return "list";
    case PickleKind::kDict: return "dict";
    case PickleKind::kSet: return "set";
    case PickleKind::kFrozenSet: return "frozenset";
    case PickleKind::kGlobal: return "global";
    case PickleKind::kReduce: return "reduce";
    case PickleKind::kNewObj: return "newobj";
    case PickleKind::kNewObjEx: return "newobj_ex";
    case PickleKind::kBuffer: return "buffer";
  }
  return "?";
}

NodeId PickleTree::Add(PickleNode node) {
  nodes_.push_back(std::move(node));
  return static_cast<NodeId>(nodes_.size() - 1);
}

NodeId PickleTree::AddNone() { return Add({}); }

NodeId PickleTree::AddBool(bool b) {
  PickleNode n;
  n.kind = PickleKind::kBool;
  n.flag = b;
  return Add(std::move(n));
}

NodeId PickleTree::AddInt(int64_t i) {
  PickleNode n;
  n.kind = PickleKind::kInt;
  n.int_value = i;
  return Add(std::move(n));
}

NodeId PickleTree::AddFloat(double d) {
  PickleNode n;
  n.kind = PickleKind::kFloat;
  n.float_value = d;
  return Add(std::move(n));
}

NodeId PickleTree::AddStr(std::string_view s) {
  PickleNode n;
  n.kind = PickleKind::kStr;
  n.memoized = true;
  n.data = Buffer::CopyFrom(s);
  return Add(std::move(n));
}

NodeId PickleTree::AddBytes(std::string_view b) {
  PickleNode n;
  n.kind = PickleKind::kBytes;
  n.memoized = true;
  n.data = Buffer::CopyFrom(b);
  return Add(std::move(n));
}

NodeId PickleTree::AddTuple(std::vector<NodeId> items) {
  PickleNode n;
  n.kind = PickleKind::kTuple;
  n.memoized = !items.empty();  // CPython never memoizes the empty tuple
  n.items = std::move(items);
  return Add(std::move(n));
}

NodeId PickleTree::AddList(std::vector<NodeId> items) {
  PickleNode n;
  n.kind = PickleKind::kList;
  n.memoized = true;
  n.items = std::move(items);
  return Add(std::move(n));
}

NodeId PickleTree::AddDict(std::vector<NodeId> keys_and_values) {
  PickleNode n;
  n.kind = PickleKind::kDict;
  n.memoized = true;
  n.items = std::move(keys_and_values);
  return Add(std::move(n));
}

NodeId PickleTree::AddGlobal(std::string_view module, std::string_view name) {
  NodeId m = AddStr(module);
  NodeId q = AddStr(name);
  PickleNode n;
  n.kind = PickleKind::kGlobal;
  n.memoized = true;
  n.items = {m, q};
  return Add(std::move(n));
}

NodeId PickleTree::AddReduce(NodeId callable, NodeId args, NodeId state) {
  PickleNode n;
  n.kind = PickleKind::kReduce;
  n.memoized = true;
  n.items = {callable, args};
  n.state = state;
  return Add(std::move(n));
}

NodeId PickleTree::AddNewObj(NodeId cls, NodeId args, NodeId state) {
  PickleNode n;
  n.kind = PickleKind::kNewObj;
  n.memoized = true;
  n.items = {cls, args};
  n.state = state;
  return Add(std::move(n));
}

NodeId PickleTree::AddBuffer(Buffer buffer, bool readonly) {
  PickleNode n;
  n.kind = PickleKind::kBuffer;
  n.flag = readonly;
  n.int_value = static_cast<int64_t>(buffers_.size());
  buffers_.push_back(std::move(buffer));
  return Add(std::move(n));
}

std::string_view PickleTree::str(NodeId id) const {
  if (id >= nodes_.size() || nodes_[id].kind != PickleKind::kStr) return {};
  return nodes_[id].data.view();
}

std::string_view PickleTree::global_module(NodeId id) const {
  if (id >= nodes_.size() || nodes_[id].kind != PickleKind::kGlobal) return {};
  const PickleNode& n = nodes_[id];
  if (n.items.size() == 2) return str(n.items[0]);
  std::string_view both = n.data.view();
  return both.substr(0, both.find('\n'));
}

std::string_view PickleTree::global_name(NodeId id) const {
  if (id >= nodes_.size() || nodes_[id].kind != PickleKind::kGlobal) return {};
  const PickleNode& n = nodes_[id];
  if (n.items.size() == 2) return str(n.items[1]);
  std::string_view both = n.data.view();
  size_t nl = both.find('\n');
  return nl == std::string_view::npos ? std::string_view() : both.substr(nl + 1);
}

bool PickleTree::IsGlobal(NodeId id, std::string_view module, std::string_view name) const {
  return id < nodes_.size() && nodes_[id].kind == PickleKind::kGlobal &&
         global_module(id) == module && global_name(id) == name;
}

}  // namespace dn
