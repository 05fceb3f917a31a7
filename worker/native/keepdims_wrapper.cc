#include "worker/native/keepdims_wrapper.h"

#include <string_view>

#include "protocol/pickle/pickle_reader.h"

namespace dn::native {

namespace {

bool IsCloudpickle(const PickleTree& t, NodeId id, std::string_view name) {
  if (id >= t.size() || t.node(id).kind != PickleKind::kGlobal || t.global_name(id) != name)
    return false;
  std::string_view module = t.global_module(id);
  return module == "cloudpickle" || module.starts_with("cloudpickle.");
}

// The items of a REDUCE node's argument tuple, or nullptr.
const std::vector<NodeId>* CallArgs(const PickleTree& t, NodeId id) {
  if (id >= t.size() || t.node(id).kind != PickleKind::kReduce || t.node(id).items.size() != 2)
    return nullptr;
  const PickleNode& args = t.node(t.node(id).items[1]);
  return args.kind == PickleKind::kTuple ? &args.items : nullptr;
}

// The value of a str key in a dict node, or kNoNode.
NodeId DictValue(const PickleTree& t, NodeId dict, std::string_view key) {
  if (dict >= t.size() || t.node(dict).kind != PickleKind::kDict) return kNoNode;
  const std::vector<NodeId>& kv = t.node(dict).items;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    if (t.node(kv[i]).kind == PickleKind::kStr && t.str(kv[i]) == key) return kv[i + 1];
  }
  return kNoNode;
}

bool HasStr(const PickleTree& t, const std::vector<NodeId>& items, std::string_view s) {
  for (NodeId c : items) {
    if (c < t.size() && t.node(c).kind == PickleKind::kStr && t.str(c) == s) return true;
  }
  return false;
}

// `id` as the cloudpickled function itself, or (`nested`) as pickle.loads(<its pickle>).
std::optional<std::string> Recognize(const PickleTree& t, NodeId id, bool nested) {
  if (id >= t.size() || t.node(id).kind != PickleKind::kReduce || t.node(id).items.empty())
    return std::nullopt;
  const NodeId head = t.node(id).items[0];
  if (nested && (t.IsGlobal(head, "_pickle", "loads") || t.IsGlobal(head, "pickle", "loads"))) {
    const std::vector<NodeId>* args = CallArgs(t, id);
    if (args == nullptr || args->size() != 1 || t.node((*args)[0]).kind != PickleKind::kBytes)
      return std::nullopt;
    Result<PickleTree> inner = ReadPickle(t.node((*args)[0]).data);
    if (!inner.ok()) return std::nullopt;
    return Recognize(*inner, inner->root(), false);
  }
  // _make_function(code, base_globals, name, argdefs, closure)
  if (!IsCloudpickle(t, head, "_make_function")) return std::nullopt;
  const std::vector<NodeId>* args = CallArgs(t, id);
  if (args == nullptr || args->size() < 2) return std::nullopt;
  NodeId module = DictValue(t, (*args)[1], "__name__");
  if (module == kNoNode || t.str(module) != "dask.array.chunk") return std::nullopt;
  // CodeType(...) built by REDUCE(_builtin_type('CodeType'), (argcount, ..., co_name, ...)).
  const std::vector<NodeId>* code = CallArgs(t, (*args)[0]);
  if (code == nullptr || !HasStr(t, *code, "keepdims_wrapped_callable")) return std::nullopt;
  for (NodeId effect : t.node(id).effects) {
    // _function_setstate(func, (state, slotstate)): slotstate["__closure__"] is
    // (_make_cell(<the wrapped function>),).
    const std::vector<NodeId>* set = CallArgs(t, effect);
    if (set == nullptr || !IsCloudpickle(t, t.node(effect).items[0], "_function_setstate") ||
        set->size() != 2 || (*set)[0] != id || t.node((*set)[1]).kind != PickleKind::kTuple ||
        t.node((*set)[1]).items.size() != 2) {
      continue;
    }
    NodeId closure = DictValue(t, t.node((*set)[1]).items[1], "__closure__");
    if (closure == kNoNode || t.node(closure).kind != PickleKind::kTuple ||
        t.node(closure).items.size() != 1) {
      return std::nullopt;
    }
    NodeId cell = t.node(closure).items[0];
    const std::vector<NodeId>* cell_args = CallArgs(t, cell);
    if (cell_args == nullptr || cell_args->size() != 1 ||
        !IsCloudpickle(t, t.node(cell).items[0], "_make_cell")) {
      return std::nullopt;
    }
    NodeId wrapped = (*cell_args)[0];
    if (t.node(wrapped).kind != PickleKind::kGlobal) return std::nullopt;
    std::string_view wm = t.global_module(wrapped), wn = t.global_name(wrapped);
    const bool numpy = wm == "numpy" || wm == "numpy._core.fromnumeric" ||
                       wm == "numpy.core.fromnumeric" || wm == "numpy.lib._nanfunctions_impl" ||
                       wm == "numpy.lib.nanfunctions";
    if (numpy && (wn == "argmax" || wn == "argmin" || wn == "nanargmax" || wn == "nanargmin")) {
      return "dask.array.chunk." + std::string(wn);
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> KeepdimsWrappedName(const PickleTree& t, NodeId id) {
  // dask-native-scheduler embeds a by-value function as pickle.loads(<its cloudpickle>).
  return Recognize(t, id, true);
}

}  // namespace dn::native
