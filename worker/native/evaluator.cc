#include "worker/native/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "worker/native/arg_reduce.h"
#include "worker/native/elementwise.h"
#include "worker/native/keepdims_wrapper.h"
#include "worker/native/kernels.h"
#include "worker/native/records.h"

namespace dn::native {

namespace {

struct Fn;

/// A value met while evaluating: a literal, a container, an array, a dtype, a class
/// token or a callable. Small and copyable; arrays share their bytes. A numpy
/// structured array (kRecords) is held like a dict, one array per field.
struct Obj {
  enum class Kind : uint8_t { kNone, kBool, kInt, kFloat, kStr, kSeq, kDict, kArray, kDType, kFn, kClass, kSlice,
                              kRecords };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  ///< kStr text; kClass "module.name"
  std::shared_ptr<std::vector<Obj>> items;  ///< kSeq items; kDict k0, v0, k1, v1, ...
  NdArray array;
  DType dtype = DType::kFloat64;
  std::shared_ptr<const Fn> fn;

  static Obj Seq(std::vector<Obj> v) {
    Obj o;
    o.kind = Kind::kSeq;
    o.items = std::make_shared<std::vector<Obj>>(std::move(v));
    return o;
  }
  static Obj Array(NdArray a) {
    Obj o;
    o.kind = Kind::kArray;
    o.array = std::move(a);
    return o;
  }
};

/// A recognised callable, with the arguments a functools.partial bound.
struct Fn {
  enum class Kind : uint8_t {
    kReduction,        ///< numpy reductions and dask's chunk_max/chunk_min: `name`
    kConcatenate2,     ///< dask.array.core._concatenate2
    kFinalize,         ///< dask.array.core.finalize
    kApplyRandom,      ///< dask.array.random._apply_random
    kApplyRandomFunc,  ///< dask.array.random._apply_random_func (Generator API)
    kIdentityCast,     ///< dask._task_spec._identity_cast
    kToContainer,      ///< dask._task_spec.NestedContainer.to_container
    kExecuteSubgraph,  ///< dask._task_spec._execute_subgraph
    kCompose,          ///< toolz.functoolz.Compose: compose[0] first, then the rest
    kBinary,           ///< _operator.<name>
    kTranspose,        ///< numpy.transpose
    kGetItem,          ///< dask.array.chunk.getitem
    kAsType,           ///< dask.array.chunk.astype
    kBroadcastFill,    ///< curry(dask.array.wrap._broadcast_trick_inner, numpy.<name>_like)
    kArange,           ///< dask.array.chunk.arange
    kMean,             ///< dask.array.reductions.mean_chunk / mean_combine / mean_agg
    kMoment,           ///< dask.array.reductions.moment_chunk / moment_combine / moment_agg
    kEnforceDtype,     ///< dask.array.core._enforce_dtype (std's sqrt step)
    kWhere,            ///< numpy.where(cond, scalar, array)
    kArgReduction,     ///< dask.array.reductions.arg_chunk / arg_combine / arg_agg / nanarg_agg
  };
  Kind kind;
  std::string name;
  std::vector<Obj> args;
  std::vector<std::pair<std::string, Obj>> kwargs;
  std::vector<std::shared_ptr<const Fn>> compose;
};

using Kwargs = std::vector<std::pair<std::string, Obj>>;

const Obj* FindKwarg(const Kwargs& kw, std::string_view name) {
  for (const auto& [k, v] : kw) {
    if (k == name) return &v;
  }
  return nullptr;
}

Status Unsupported(std::string what) { return Status::NotImplemented(std::move(what)); }

/// Evaluation scope of one `_execute_subgraph` level: its inner graph (key -> node),
/// the values bound or computed so far, and the enclosing scope.
struct Scope {
  const Scope* parent = nullptr;
  std::unordered_map<Key, NodeId, KeyHash> inner;
  mutable std::unordered_map<Key, Obj, KeyHash> values;
};

class Evaluator {
 public:
  Evaluator(const PickleTree& t, const DependencyLookup& deps) : t_(t), deps_(deps) {}

  Result<Obj> EvalArg(NodeId id, const Scope* scope) {
    if (++depth_ > kMaxDepth) return Status::Invalid("run_spec nests too deeply");
    Result<Obj> r = IsGraphNode(id) ? EvalGraphNode(id, scope) : EvalData(id);
    --depth_;
    return r;
  }

 private:
  static constexpr int kMaxDepth = 200;

  const PickleNode& N(NodeId id) const { return t_.node(id); }

  bool GlobalIs(NodeId id, std::string_view module, std::string_view name) const {
    return id < t_.size() && t_.IsGlobal(id, module, name);
  }

  // The callable or class node of a REDUCE / NEWOBJ node.
  NodeId Head(NodeId id) const {
    const PickleNode& n = N(id);
    return n.items.empty() ? kNoNode : n.items[0];
  }
  // The args tuple of a REDUCE node.
  const std::vector<NodeId>* ReduceArgs(NodeId id) const {
    const PickleNode& n = N(id);
    if (n.items.size() < 2 || N(n.items[1]).kind != PickleKind::kTuple) return nullptr;
    return &N(n.items[1]).items;
  }

  bool IsTaskSpec(NodeId head, std::string_view name) const {
    return GlobalIs(head, "dask._task_spec", name);
  }

  bool IsGraphNode(NodeId id) const {
    const PickleNode& n = N(id);
    if (n.kind == PickleKind::kNewObj) {
      NodeId h = Head(id);
      return IsTaskSpec(h, "Task") || IsTaskSpec(h, "List") || IsTaskSpec(h, "Tuple");
    }
    if (n.kind == PickleKind::kReduce) {
      NodeId h = Head(id);
      return IsTaskSpec(h, "Alias") || IsTaskSpec(h, "TaskRef") || IsTaskSpec(h, "DataNode");
    }
    return false;
  }

  Result<Key> KeyOf(NodeId id) const {
    DN_ASSIGN_OR_RETURN(Value v, KeyValue(id));
    return Key::FromValue(v);
  }
  Result<Value> KeyValue(NodeId id) const {
    const PickleNode& n = N(id);
    switch (n.kind) {
      case PickleKind::kStr: return Value(std::string(t_.str(id)));
      case PickleKind::kInt: return Value(n.int_value);
      case PickleKind::kFloat: return Value(n.float_value);
      case PickleKind::kTuple: {
        Array a;
        for (NodeId c : n.items) {
          DN_ASSIGN_OR_RETURN(Value v, KeyValue(c));
          a.push_back(std::move(v));
        }
        return Value(std::move(a));
      }
      default: return Unsupported("key of kind " + std::string(ToString(n.kind)));
    }
  }

  Result<Obj> Lookup(const Key& key, const Scope* scope) {
    for (const Scope* s = scope; s != nullptr; s = s->parent) {
      if (auto it = s->values.find(key); it != s->values.end()) return it->second;
      if (auto it = s->inner.find(key); it != s->inner.end()) {
        DN_ASSIGN_OR_RETURN(Obj v, EvalArg(it->second, s));
        s->values.emplace(key, v);
        return v;
      }
    }
    const NativeValue* v = deps_(key);
    if (v == nullptr) return Unsupported("dependency " + key.Repr() + " is not held natively");
    if (!v->is_dict() && !v->records) return Obj::Array(v->array);
    Obj d = Obj::Seq({});
    d.kind = v->records ? Obj::Kind::kRecords : Obj::Kind::kDict;
    for (const auto& [name, a] : v->fields) {
      Obj k;
      k.kind = Obj::Kind::kStr;
      k.s = name;
      d.items->push_back(std::move(k));
      d.items->push_back(Obj::Array(a));
    }
    return d;
  }

  Result<Obj> EvalGraphNode(NodeId id, const Scope* scope) {
    const PickleNode& n = N(id);
    NodeId h = Head(id);
    if (n.kind == PickleKind::kReduce) {
      const std::vector<NodeId>* args = ReduceArgs(id);
      if (args == nullptr || args->empty()) return Status::Invalid("graph node without arguments");
      if (IsTaskSpec(h, "DataNode")) {
        if (args->size() != 2) return Status::Invalid("DataNode takes (key, value)");
        return EvalData((*args)[1]);
      }
      // TaskRef(key); Alias(key, target) — inline or top level, it is target's value.
      NodeId target = IsTaskSpec(h, "Alias") && args->size() == 2 ? (*args)[1] : (*args)[0];
      DN_ASSIGN_OR_RETURN(Key k, KeyOf(target));
      return Lookup(k, scope);
    }
    // NEWOBJ(Task | List | Tuple) + BUILD(state in sorted slot order).
    if (n.state == kNoNode) return Status::Invalid("task without state");
    const PickleNode& st = N(n.state);
    if (st.kind != PickleKind::kTuple && st.kind != PickleKind::kList) {
      return Status::Invalid("task state is not a sequence");
    }
    const std::vector<NodeId>& slots = st.items;
    if (IsTaskSpec(h, "List") || IsTaskSpec(h, "Tuple")) {
      // (_data_producer, _dependencies, _is_coro, _repr, _token, args, constructor,
      //  func, key, klass, kwargs)
      if (slots.size() != 11 || N(slots[5]).kind != PickleKind::kTuple) return Unsupported("container state");
      std::vector<Obj> items;
      for (NodeId a : N(slots[5]).items) {
        DN_ASSIGN_OR_RETURN(Obj v, EvalArg(a, scope));
        items.push_back(std::move(v));
      }
      return Obj::Seq(std::move(items));
    }
    // Task: (_data_producer, _dependencies, _is_coro, _repr, _token, args, func, key, kwargs)
    if (slots.size() != 9) return Unsupported("Task state of " + std::to_string(slots.size()) + " slots");
    const PickleNode& args = N(slots[5]);
    if (args.kind != PickleKind::kTuple) return Status::Invalid("Task args is not a tuple");
    if (N(slots[2]).kind == PickleKind::kBool && N(slots[2]).flag) return Unsupported("coroutine task");
    DN_ASSIGN_OR_RETURN(std::shared_ptr<const Fn> fn, EvalFn(slots[6]));
    if (fn->kind == Fn::Kind::kExecuteSubgraph) return ExecuteSubgraph(args.items, scope);
    std::vector<Obj> argv;
    for (NodeId a : args.items) {
      DN_ASSIGN_OR_RETURN(Obj v, EvalArg(a, scope));
      argv.push_back(std::move(v));
    }
    Kwargs kwargs;
    const PickleNode& kw = N(slots[8]);
    if (kw.kind == PickleKind::kDict) {
      for (size_t i = 0; i + 1 < kw.items.size(); i += 2) {
        if (N(kw.items[i]).kind != PickleKind::kStr) return Status::Invalid("kwarg name is not a str");
        DN_ASSIGN_OR_RETURN(Obj v, EvalArg(kw.items[i + 1], scope));
        kwargs.emplace_back(std::string(t_.str(kw.items[i])), std::move(v));
      }
    } else if (kw.kind != PickleKind::kNone) {
      return Status::Invalid("Task kwargs is not a dict");
    }
    return Call(*fn, std::move(argv), std::move(kwargs));
  }

  // _execute_subgraph(inner_dsk, outkey, inkeys, *deps): bind inkeys[i] to deps[i] by
  // position (inkeys are ordered by hash(key), which differs between processes).
  Result<Obj> ExecuteSubgraph(const std::vector<NodeId>& args, const Scope* scope) {
    if (args.size() < 3) return Status::Invalid("_execute_subgraph takes (dsk, outkey, inkeys, *deps)");
    const PickleNode& dsk = N(args[0]);
    const PickleNode& inkeys = N(args[2]);
    if (dsk.kind != PickleKind::kDict || inkeys.kind != PickleKind::kTuple ||
        inkeys.items.size() != args.size() - 3) {
      return Unsupported("_execute_subgraph arguments");
    }
    Scope inner;
    inner.parent = scope;
    for (size_t i = 0; i + 1 < dsk.items.size(); i += 2) {
      DN_ASSIGN_OR_RETURN(Key k, KeyOf(dsk.items[i]));
      inner.inner.emplace(std::move(k), dsk.items[i + 1]);
    }
    for (size_t i = 0; i < inkeys.items.size(); ++i) {
      DN_ASSIGN_OR_RETURN(Key k, KeyOf(inkeys.items[i]));
      DN_ASSIGN_OR_RETURN(Obj v, EvalArg(args[3 + i], scope));
      inner.values.emplace(std::move(k), std::move(v));
    }
    DN_ASSIGN_OR_RETURN(Key out, KeyOf(args[1]));
    return Lookup(out, &inner);
  }

  Result<std::shared_ptr<const Fn>> EvalFn(NodeId id) {
    const PickleNode& n = N(id);
    auto make = [](Fn::Kind k, std::string name = {}) {
      auto f = std::make_shared<Fn>();
      f->kind = k;
      f->name = std::move(name);
      return std::shared_ptr<const Fn>(std::move(f));
    };
    if (n.kind == PickleKind::kGlobal) {
      std::string_view mod = t_.global_module(id), name = t_.global_name(id);
      if (mod == "dask._task_spec") {
        if (name == "_execute_subgraph") return make(Fn::Kind::kExecuteSubgraph);
        if (name == "_identity_cast") return make(Fn::Kind::kIdentityCast);
        if (name == "NestedContainer.to_container") return make(Fn::Kind::kToContainer);
      } else if (mod == "dask.array.core") {
        if (name == "_concatenate2") return make(Fn::Kind::kConcatenate2);
        if (name == "finalize") return make(Fn::Kind::kFinalize);
        if (name == "_enforce_dtype") return make(Fn::Kind::kEnforceDtype);
      } else if (mod == "_operator" && (name == "add" || name == "sub" || name == "mul" || name == "truediv" ||
                                         name == "gt" || name == "ge" || name == "lt" || name == "le" ||
                                         name == "eq" || name == "ne")) {
        return make(Fn::Kind::kBinary, std::string(name));
      } else if ((mod == "numpy" || mod == "numpy._core.multiarray" || mod == "numpy.core.multiarray") &&
                 name == "where") {
        return make(Fn::Kind::kWhere);
      } else if ((mod == "numpy" || mod == "numpy._core.fromnumeric" || mod == "numpy.core.fromnumeric") &&
                 name == "transpose") {
        return make(Fn::Kind::kTranspose);
      } else if (mod == "dask.array.chunk" && name == "getitem") {
        return make(Fn::Kind::kGetItem);
      } else if (mod == "dask.array.chunk" && name == "arange") {
        return make(Fn::Kind::kArange);
      } else if (mod == "dask.array.chunk" && name == "astype") {
        return make(Fn::Kind::kAsType);
      } else if (mod == "dask.array.random" && name == "_apply_random") {
        return make(Fn::Kind::kApplyRandom);
      } else if (mod == "dask.array.random" && name == "_apply_random_func") {
        return make(Fn::Kind::kApplyRandomFunc);
      } else if ((mod == "numpy" || mod == "dask.array.chunk" || mod == "numpy.lib._nanfunctions_impl") &&
                 name == "nansum") {
        return make(Fn::Kind::kReduction, "nansum");
      } else if (mod == "numpy" || mod == "numpy.core.fromnumeric" || mod == "numpy._core.fromnumeric") {
        if (IsReduction(name)) return make(Fn::Kind::kReduction, std::string(name));
      } else if (mod == "dask.array.reductions" &&
                 (name == "moment_chunk" || name == "moment_combine" || name == "moment_agg")) {
        return make(Fn::Kind::kMoment, std::string(name));
      } else if (mod == "dask.array.reductions" &&
                 (name == "mean_chunk" || name == "mean_combine" || name == "mean_agg")) {
        return make(Fn::Kind::kMean, std::string(name));
      } else if (mod == "dask.array.reductions" && (name == "arg_chunk" || name == "arg_combine" ||
                                                    name == "arg_agg" || name == "nanarg_agg")) {
        return make(Fn::Kind::kArgReduction, std::string(name));
      } else if (mod == "dask.array.reductions" && (name == "chunk_max" || name == "chunk_min")) {
        return make(Fn::Kind::kReduction, name == "chunk_max" ? "max" : "min");
      } else if (mod == "dask.array.chunk" && (name == "sum" || name == "prod" || name == "any" ||
                                               name == "all" || name == "max" || name == "min")) {
        return make(Fn::Kind::kReduction, std::string(name));
      }
      return Unsupported("callable " + std::string(mod) + "." + std::string(name));
    }
    if (n.kind == PickleKind::kReduce && GlobalIs(Head(id), "functools", "partial")) {
      // REDUCE(partial, (func,)) + BUILD((func, args, kwargs, dict)).
      if (n.state == kNoNode || N(n.state).kind != PickleKind::kTuple || N(n.state).items.size() != 4) {
        return Unsupported("partial state");
      }
      const std::vector<NodeId>& st = N(n.state).items;
      DN_ASSIGN_OR_RETURN(std::shared_ptr<const Fn> inner, EvalFn(st[0]));
      auto f = std::make_shared<Fn>(*inner);
      if (N(st[1]).kind == PickleKind::kTuple) {
        std::vector<Obj> bound;
        for (NodeId a : N(st[1]).items) {
          DN_ASSIGN_OR_RETURN(Obj v, EvalData(a));
          bound.push_back(std::move(v));
        }
        f->args.insert(f->args.begin(), bound.begin(), bound.end());
      }
      if (N(st[2]).kind == PickleKind::kDict) {
        const std::vector<NodeId>& kw = N(st[2]).items;
        for (size_t i = 0; i + 1 < kw.size(); i += 2) {
          DN_ASSIGN_OR_RETURN(Obj v, EvalData(kw[i + 1]));
          f->kwargs.emplace_back(std::string(t_.str(kw[i])), std::move(v));
        }
      }
      if (N(st[3]).kind != PickleKind::kNone &&
          !(N(st[3]).kind == PickleKind::kDict && N(st[3]).items.empty())) {
        return Unsupported("partial with a __dict__");
      }
      return std::shared_ptr<const Fn>(std::move(f));
    }
    if (n.kind == PickleKind::kReduce && GlobalIs(Head(id), "toolz.functoolz", "_restore_curry")) {
      // _restore_curry(curry, "module:qualname", args, kwargs, userdict, is_decorated):
      // only da.ones/zeros/full's `curry(_broadcast_trick_inner, numpy.<x>_like)`.
      const std::vector<NodeId>* a = ReduceArgs(id);
      if (a == nullptr || a->size() < 4 || t_.str((*a)[1]) != "dask.array.wrap:_broadcast_trick_inner" ||
          N((*a)[2]).kind != PickleKind::kTuple || N((*a)[2]).items.size() != 1 ||
          !(N((*a)[3]).kind == PickleKind::kDict && N((*a)[3]).items.empty())) {
        return Unsupported("curried callable");
      }
      NodeId like = N((*a)[2]).items[0];
      for (std::string_view what : {"ones", "zeros", "full"}) {
        if (GlobalIs(like, "numpy", std::string(what) + "_like")) return make(Fn::Kind::kBroadcastFill, std::string(what));
      }
      return Unsupported("broadcast trick of another function");
    }
    if (n.kind == PickleKind::kNewObj && GlobalIs(Head(id), "toolz.functoolz", "Compose")) {
      // NEWOBJ(Compose, ()) + BUILD((first, funcs)).
      if (n.state == kNoNode || N(n.state).kind != PickleKind::kTuple || N(n.state).items.size() != 2 ||
          N(N(n.state).items[1]).kind != PickleKind::kTuple) {
        return Unsupported("Compose state");
      }
      auto f = std::make_shared<Fn>();
      f->kind = Fn::Kind::kCompose;
      DN_ASSIGN_OR_RETURN(std::shared_ptr<const Fn> first, EvalFn(N(n.state).items[0]));
      f->compose.push_back(first);
      for (NodeId g : N(N(n.state).items[1]).items) {
        DN_ASSIGN_OR_RETURN(std::shared_ptr<const Fn> next, EvalFn(g));
        f->compose.push_back(next);
      }
      return std::shared_ptr<const Fn>(std::move(f));
    }
    return Unsupported("callable of kind " + std::string(ToString(n.kind)));
  }

  static bool IsReduction(std::string_view name) {
    for (std::string_view r : {"sum", "prod", "max", "min", "amax", "amin", "any", "all"}) {
      if (name == r) return true;
    }
    return false;
  }

  // Plain data: literals, containers of data, numpy arrays and dtypes, class tokens.
  Result<Obj> EvalData(NodeId id) {
    const PickleNode& n = N(id);
    Obj o;
    switch (n.kind) {
      case PickleKind::kNone: return o;
      case PickleKind::kBool: o.kind = Obj::Kind::kBool; o.b = n.flag; return o;
      case PickleKind::kInt: o.kind = Obj::Kind::kInt; o.i = n.int_value; return o;
      case PickleKind::kFloat: o.kind = Obj::Kind::kFloat; o.f = n.float_value; return o;
      case PickleKind::kStr: o.kind = Obj::Kind::kStr; o.s = std::string(t_.str(id)); return o;
      case PickleKind::kTuple:
      case PickleKind::kList: {
        std::vector<Obj> items;
        for (NodeId c : n.items) {
          if (IsGraphNode(c)) return Unsupported("graph node inside plain data");
          DN_ASSIGN_OR_RETURN(Obj v, EvalData(c));
          items.push_back(std::move(v));
        }
        return Obj::Seq(std::move(items));
      }
      case PickleKind::kDict: {
        Obj d = Obj::Seq({});
        d.kind = Obj::Kind::kDict;
        for (NodeId c : n.items) {
          if (IsGraphNode(c)) return Unsupported("graph node inside plain data");
          DN_ASSIGN_OR_RETURN(Obj v, EvalData(c));
          d.items->push_back(std::move(v));
        }
        return d;
      }
      case PickleKind::kGlobal:
        o.kind = Obj::Kind::kClass;
        o.s = std::string(t_.global_module(id)) + "." + std::string(t_.global_name(id));
        return o;
      case PickleKind::kReduce: {
        NodeId h = Head(id);
        const std::vector<NodeId>* args = ReduceArgs(id);
        if (args == nullptr) return Unsupported("reduce without args");
        if (GlobalIs(h, "numpy", "dtype")) {
          if (args->empty() || N((*args)[0]).kind != PickleKind::kStr) return Unsupported("dtype");
          DN_ASSIGN_OR_RETURN(o.dtype, ParseDType(t_.str((*args)[0])));
          o.kind = Obj::Kind::kDType;
          return o;
        }
        if (GlobalIs(h, "numpy.random.bit_generator", "__pyx_unpickle_SeedSequence")) {
          // REDUCE(__pyx_unpickle_SeedSequence, (SeedSequence, checksum, None)) + BUILD(
          // (entropy, n_children_spawned, pool, pool_size, spawn_key)): PCG64 only needs
          // the 4-word pool (shared/docs/native-ops.md §5.1).
          if (n.state == kNoNode || N(n.state).kind != PickleKind::kTuple || N(n.state).items.size() != 5) {
            return Unsupported("SeedSequence state");
          }
          DN_ASSIGN_OR_RETURN(Obj pool, EvalData(N(n.state).items[2]));
          DN_ASSIGN_OR_RETURN(Obj pool_size, EvalData(N(n.state).items[3]));
          if (pool.kind != Obj::Kind::kArray || pool.array.dtype != DType::kUInt32 || pool.array.size() != 4 ||
              !pool.array.IsCContiguous() || pool_size.kind != Obj::Kind::kInt || pool_size.i != 4) {
            return Unsupported("SeedSequence pool");
          }
          pool.s = "SeedSequence";
          return pool;
        }
        if (GlobalIs(h, "builtins", "slice")) {
          if (args->size() != 3) return Unsupported("slice");
          Obj sl = Obj::Seq({});
          sl.kind = Obj::Kind::kSlice;
          for (NodeId c : *args) {
            DN_ASSIGN_OR_RETURN(Obj v, EvalData(c));
            if (v.kind != Obj::Kind::kNone && v.kind != Obj::Kind::kInt) return Unsupported("slice bound");
            sl.items->push_back(std::move(v));
          }
          return sl;
        }
        if (GlobalIs(h, "numpy._core.numeric", "_frombuffer") || GlobalIs(h, "numpy.core.numeric", "_frombuffer")) {
          return FromBuffer(*args);
        }
        if (std::optional<std::string> wrapped = KeepdimsWrappedName(t_, id)) {
          o.kind = Obj::Kind::kClass;  // dask.array.chunk.argmax & co., pickled by value
          o.s = std::move(*wrapped);
          return o;
        }
        return Unsupported("data built by " + std::string(t_.global_module(h)) + "." +
                           std::string(t_.global_name(h)));
      }
      default: return Unsupported("data of kind " + std::string(ToString(n.kind)));
    }
  }

  // numpy's _frombuffer(buffer, dtype, shape, order) for out-of-band arrays.
  Result<Obj> FromBuffer(const std::vector<NodeId>& args) {
    if (args.size() != 4 || N(args[0]).kind != PickleKind::kBuffer) return Unsupported("_frombuffer");
    int64_t index = N(args[0]).int_value;
    if (index < 0 || static_cast<size_t>(index) >= t_.buffers().size()) return Status::Invalid("buffer index");
    DN_ASSIGN_OR_RETURN(Obj dt, EvalData(args[1]));
    DN_ASSIGN_OR_RETURN(Obj shape, EvalData(args[2]));
    if (dt.kind != Obj::Kind::kDType || shape.kind != Obj::Kind::kSeq || t_.str(args[3]) != "C") {
      return Unsupported("_frombuffer layout");
    }
    NdArray a;
    a.dtype = dt.dtype;
    for (const Obj& d : *shape.items) {
      if (d.kind != Obj::Kind::kInt || d.i < 0) return Status::Invalid("array shape");
      a.shape.push_back(d.i);
    }
    a.strides = NdArray::CStrides(a.shape, ItemSize(a.dtype));
    a.data = t_.buffers()[index];
    a.writeable = !N(args[0]).flag;
    if (static_cast<int64_t>(a.data.size()) != a.nbytes()) return Status::Invalid("buffer size does not match shape");
    return Obj::Array(std::move(a));
  }

  Result<Obj> Call(const Fn& fn, std::vector<Obj> argv, Kwargs kwargs) {
    if (!fn.args.empty()) argv.insert(argv.begin(), fn.args.begin(), fn.args.end());
    for (const auto& kv : fn.kwargs) {
      if (FindKwarg(kwargs, kv.first) == nullptr) kwargs.push_back(kv);
    }
    switch (fn.kind) {
      case Fn::Kind::kCompose: {
        DN_ASSIGN_OR_RETURN(Obj r, Call(*fn.compose[0], std::move(argv), std::move(kwargs)));
        for (size_t i = 1; i < fn.compose.size(); ++i) {
          DN_ASSIGN_OR_RETURN(r, Call(*fn.compose[i], {r}, {}));
        }
        return r;
      }
      case Fn::Kind::kIdentityCast:
      case Fn::Kind::kToContainer: {
        const Obj* typ = FindKwarg(kwargs, fn.kind == Fn::Kind::kIdentityCast ? "typ" : "constructor");
        if (typ != nullptr && !(typ->kind == Obj::Kind::kClass &&
                                (typ->s == "builtins.list" || typ->s == "builtins.tuple"))) {
          return Unsupported("container type " + typ->s);
        }
        return Obj::Seq(std::move(argv));
      }
      case Fn::Kind::kApplyRandom: return ApplyRandom(argv);
      case Fn::Kind::kApplyRandomFunc: return ApplyRandomFunc(argv);
      case Fn::Kind::kConcatenate2: {
        const Obj* axes = FindKwarg(kwargs, "axes");
        if (argv.size() != 1 || axes == nullptr || axes->kind != Obj::Kind::kSeq) return Unsupported("_concatenate2 args");
        std::vector<int> ax;
        for (const Obj& a : *axes->items) {
          if (a.kind != Obj::Kind::kInt) return Unsupported("_concatenate2 axes");
          ax.push_back(static_cast<int>(a.i));
        }
        return ConcatenateNested(argv[0], ax, 0);
      }
      case Fn::Kind::kFinalize: {
        if (argv.size() != 1) return Unsupported("finalize args");
        Obj r = argv[0];
        while (r.kind == Obj::Kind::kSeq && r.items->size() == 1) r = (*r.items)[0];
        if (r.kind == Obj::Kind::kArray) return r;  // .copy(): our arrays are immutable
        if (r.kind != Obj::Kind::kSeq) return Unsupported("finalize of a non-array");
        // concatenate3: every nesting level is one axis.
        int depth = 0;
        for (const Obj* p = &argv[0]; p->kind == Obj::Kind::kSeq && !p->items->empty(); p = &(*p->items)[0]) ++depth;
        std::vector<int> axes(depth);
        for (int i = 0; i < depth; ++i) axes[i] = i;
        return ConcatenateNested(argv[0], axes, 0);
      }
      case Fn::Kind::kReduction: return Reduction(fn.name, argv, kwargs);
      case Fn::Kind::kBinary: {
        if (argv.size() != 2 || !kwargs.empty()) return Unsupported("operator arguments");
        DN_ASSIGN_OR_RETURN(Operand x, ToOperand(argv[0]));
        DN_ASSIGN_OR_RETURN(Operand y, ToOperand(argv[1]));
        DN_ASSIGN_OR_RETURN(NdArray r, Binary(fn.name, x, y));
        return Obj::Array(std::move(r));
      }
      case Fn::Kind::kTranspose: {
        if (argv.empty() || argv[0].kind != Obj::Kind::kArray) return Unsupported("transpose of a non-array");
        std::vector<int> axes;
        const Obj* ax = argv.size() > 1 ? &argv[1] : FindKwarg(kwargs, "axes");
        if (ax == nullptr || ax->kind == Obj::Kind::kNone) {
          for (int i = argv[0].array.ndim() - 1; i >= 0; --i) axes.push_back(i);
        } else if (ax->kind == Obj::Kind::kSeq) {
          for (const Obj& a : *ax->items) {
            if (a.kind != Obj::Kind::kInt) return Unsupported("transpose axes");
            axes.push_back(static_cast<int>(a.i));
          }
        } else {
          return Unsupported("transpose axes");
        }
        DN_ASSIGN_OR_RETURN(NdArray r, Transpose(argv[0].array, axes));
        return Obj::Array(std::move(r));
      }
      case Fn::Kind::kGetItem: {
        if (argv.size() != 2 || argv[0].kind != Obj::Kind::kArray) return Unsupported("getitem arguments");
        std::vector<IndexEntry> index;
        auto add = [&index](const Obj& e) -> Status {
          IndexEntry ie;
          if (e.kind == Obj::Kind::kInt) {
            ie.is_int = true;
            ie.index = e.i;
          } else if (e.kind == Obj::Kind::kSlice) {
            const auto& b = *e.items;
            if (b[0].kind == Obj::Kind::kInt) ie.start = b[0].i;
            if (b[1].kind == Obj::Kind::kInt) ie.stop = b[1].i;
            if (b[2].kind == Obj::Kind::kInt) ie.step = b[2].i;
          } else {
            return Unsupported("index kind");
          }
          index.push_back(ie);
          return Status::OK();
        };
        if (argv[1].kind == Obj::Kind::kSeq) {
          for (const Obj& e : *argv[1].items) DN_RETURN_NOT_OK(add(e));
        } else {
          DN_RETURN_NOT_OK(add(argv[1]));
        }
        DN_ASSIGN_OR_RETURN(NdArray r, GetItem(argv[0].array, index));
        return Obj::Array(std::move(r));
      }
      case Fn::Kind::kBroadcastFill: return BroadcastFill(fn.name, argv, kwargs);
      case Fn::Kind::kArange: return Arange(argv, kwargs);
      case Fn::Kind::kMean: return Mean(fn.name, argv, kwargs);
      case Fn::Kind::kMoment: return Moment(fn.name, argv, kwargs);
      case Fn::Kind::kArgReduction: return ArgReduction(fn.name, argv, kwargs);
      case Fn::Kind::kWhere: {
        // np.where(cond, value, x) with a bool array, a Python number and a float64 array
        // of the same shape (da.where(x > t, np.nan, x)).
        if (argv.size() != 3 || !kwargs.empty() || argv[0].kind != Obj::Kind::kArray ||
            argv[2].kind != Obj::Kind::kArray ||
            (argv[1].kind != Obj::Kind::kFloat && argv[1].kind != Obj::Kind::kInt)) {
          return Unsupported("where arguments");
        }
        double v = argv[1].kind == Obj::Kind::kFloat ? argv[1].f : static_cast<double>(argv[1].i);
        DN_ASSIGN_OR_RETURN(NdArray r, Where(argv[0].array, v, argv[2].array));
        r.scalar = false;
        return Obj::Array(std::move(r));
      }
      case Fn::Kind::kEnforceDtype: {
        const Obj* dt = FindKwarg(kwargs, "enforce_dtype");
        const Obj* f = FindKwarg(kwargs, "enforce_dtype_function");
        if (argv.size() != 1 || argv[0].kind != Obj::Kind::kArray || kwargs.size() != 2 || dt == nullptr ||
            dt->kind != Obj::Kind::kDType || f == nullptr || f->kind != Obj::Kind::kClass ||
            f->s != "dask.array.reductions._sqrt") {
          return Unsupported("_enforce_dtype of this function");
        }
        DN_ASSIGN_OR_RETURN(NdArray r, Sqrt(argv[0].array));
        if (r.dtype != dt->dtype) return Unsupported("_enforce_dtype cast");
        return Obj::Array(std::move(r));
      }
      case Fn::Kind::kAsType: {
        const Obj* dt = argv.size() > 1 ? &argv[1] : FindKwarg(kwargs, "astype_dtype");
        if (argv.empty() || argv[0].kind != Obj::Kind::kArray || dt == nullptr || dt->kind != Obj::Kind::kDType ||
            kwargs.size() > 1) {
          return Unsupported("astype arguments");
        }
        DN_ASSIGN_OR_RETURN(NdArray r, AsType(argv[0].array, dt->dtype));
        return Obj::Array(std::move(r));
      }
      case Fn::Kind::kExecuteSubgraph: return Unsupported("_execute_subgraph called indirectly");
    }
    return Unsupported("callable");
  }

  static Result<Operand> ToOperand(const Obj& o) {
    Operand op;
    switch (o.kind) {
      case Obj::Kind::kArray: op.array = &o.array; return op;
      case Obj::Kind::kFloat: op.scalar = Operand::Scalar::kFloat; op.f = o.f; return op;
      case Obj::Kind::kInt: op.scalar = Operand::Scalar::kInt; op.i = o.i; return op;
      case Obj::Kind::kBool: op.scalar = Operand::Scalar::kBool; op.i = o.b; return op;
      default: return Unsupported("operand");
    }
  }

  // _broadcast_trick_inner(numpy.<name>_like, shape, meta=(), dtype=..., [fill_value]):
  // np.broadcast_to(<name>_like(meta, shape=(), ...), shape) — one element seen through
  // zero strides, read-only, exactly what dask's ones/zeros/full chunks are.
  Result<Obj> BroadcastFill(const std::string& name, const std::vector<Obj>& argv, const Kwargs& kwargs) {
    if (argv.size() != 1 || argv[0].kind != Obj::Kind::kSeq) return Unsupported(name + " arguments");
    std::vector<int64_t> shape;
    for (const Obj& d : *argv[0].items) {
      if (d.kind != Obj::Kind::kInt || d.i < 0) return Unsupported("shape");
      shape.push_back(d.i);
    }
    DType dtype = DType::kFloat64;
    double fvalue = name == "ones" ? 1.0 : 0.0;
    int64_t ivalue = name == "ones" ? 1 : 0;
    bool fill_is_int = true;
    for (const auto& [k, v] : kwargs) {
      if (k == "dtype" && v.kind == Obj::Kind::kDType) {
        dtype = v.dtype;
      } else if (k == "dtype" && v.kind == Obj::Kind::kNone) {
      } else if (k == "fill_value" && name == "full" && (v.kind == Obj::Kind::kInt || v.kind == Obj::Kind::kBool)) {
        ivalue = v.kind == Obj::Kind::kInt ? v.i : v.b;
        fvalue = static_cast<double>(ivalue);
      } else if (k == "fill_value" && name == "full" && v.kind == Obj::Kind::kFloat) {
        fvalue = v.f;
        fill_is_int = false;
      } else {
        return Unsupported(name + " keyword " + k);
      }
    }
    if (name == "full" && FindKwarg(kwargs, "fill_value") == nullptr) return Unsupported("full without fill_value");
    uint8_t* p = nullptr;
    NdArray one = NdArray::Allocate(dtype, {}, &p);
    switch (dtype) {
      case DType::kFloat64: { double v = fvalue; std::memcpy(p, &v, 8); break; }
      case DType::kFloat32: { float v = static_cast<float>(fvalue); std::memcpy(p, &v, 4); break; }
      case DType::kInt64:
        if (!fill_is_int) return Unsupported("float fill of an int array");
        std::memcpy(p, &ivalue, 8);
        break;
      case DType::kBool: *p = fvalue != 0; break;
      default: return Unsupported("fill dtype");
    }
    one.shape = shape;
    one.strides.assign(shape.size(), 0);
    one.writeable = false;
    return Obj::Array(std::move(one));
  }

  // The keywords dask passes to every reduction step: axis (a tuple), keepdims, dtype.
  struct StepArgs {
    std::vector<int> axes;
    bool have_axis = false;
    bool keepdims = false;
    std::optional<DType> dtype;
  };
  // Take `k` into `r` if it is one of those; false for other keywords.
  static Result<bool> TakeStepArg(const std::string& k, const Obj& v, StepArgs* r) {
    if (k == "axis" && v.kind == Obj::Kind::kSeq) {
      r->have_axis = true;
      for (const Obj& a : *v.items) {
        if (a.kind != Obj::Kind::kInt) return Unsupported("axis");
        r->axes.push_back(static_cast<int>(a.i));
      }
      return true;
    }
    if (k == "keepdims" && v.kind == Obj::Kind::kBool) {
      r->keepdims = v.b;
      return true;
    }
    if (k == "dtype" && v.kind == Obj::Kind::kDType) {
      r->dtype = v.dtype;
      return true;
    }
    return false;
  }

  // dask.array.reductions.mean_chunk / mean_combine / mean_agg with their defaults
  // (sum=chunk.sum, numel=numel), step by step as dask computes them, so every sum has
  // numpy's order (shared/docs/native-ops.md §3.2).
  Result<Obj> Mean(const std::string& step, const std::vector<Obj>& argv, const Kwargs& kwargs) {
    if (argv.size() != 1) return Unsupported(step + " arguments");
    StepArgs r;
    bool nan = false, nan_count = false;
    for (const auto& [k, v] : kwargs) {
      DN_ASSIGN_OR_RETURN(bool taken, TakeStepArg(k, v, &r));
      if (taken) {
        continue;
      } else if (k == "sum" && v.kind == Obj::Kind::kClass &&
                 (v.s == "numpy.nansum" || v.s == "dask.array.chunk.nansum")) {
        nan = true;  // nanmean: sum=nansum, numel=nannumel
      } else if (k == "numel" && v.kind == Obj::Kind::kClass && v.s == "dask.array.reductions.nannumel") {
        nan_count = true;
      } else {
        return Unsupported(step + " keyword " + k);
      }
    }
    if (!r.have_axis) return Unsupported(step + " without a tuple axis");
    if (nan != nan_count) return Unsupported(step + " with a mixed sum/numel");
    const std::vector<int>& axes = r.axes;
    const bool keepdims = r.keepdims;
    const std::optional<DType>& dtype = r.dtype;
    auto field = [](const Obj& d, std::string_view name) -> const Obj* {
      if (d.kind != Obj::Kind::kDict) return nullptr;
      for (size_t i = 0; i + 1 < d.items->size(); i += 2) {
        if ((*d.items)[i].kind == Obj::Kind::kStr && (*d.items)[i].s == name) return &(*d.items)[i + 1];
      }
      return nullptr;
    };
    auto make_dict = [](NdArray n, NdArray total) {
      Obj d = Obj::Seq({});
      d.kind = Obj::Kind::kDict;
      Obj kn, kt;
      kn.kind = kt.kind = Obj::Kind::kStr;
      kn.s = "n";
      kt.s = "total";
      d.items->push_back(kn);
      d.items->push_back(Obj::Array(std::move(n)));
      d.items->push_back(kt);
      d.items->push_back(Obj::Array(std::move(total)));
      return d;
    };
    if (step == "mean_chunk") {
      if (argv[0].kind != Obj::Kind::kArray) return Unsupported("mean_chunk of a non-array");
      const NdArray& x = argv[0].array;
      const DType dt = dtype.value_or(DType::kFloat64);
      if (dt != DType::kFloat64) return Unsupported("mean dtype");
      // numel: np.broadcast_to(np.array(prod(reduced dims), dtype), kept shape).
      double count = 1;
      std::vector<int64_t> shape;
      for (int i = 0; i < x.ndim(); ++i) {
        bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
        if (reduced) count *= static_cast<double>(x.shape[i]);
        if (!reduced) shape.push_back(x.shape[i]);
        else if (keepdims) shape.push_back(1);
      }
      uint8_t* p = nullptr;
      NdArray n = NdArray::Allocate(DType::kFloat64, {}, &p);
      std::memcpy(p, &count, 8);
      n.shape = shape;
      n.strides.assign(shape.size(), 0);
      n.writeable = false;
      if (nan) {
        // nannumel: np.sum(~np.isnan(x), dtype=f8, ...). Counts are exact integers, so
        // summing them as int64 and converting gives numpy's doubles in any order.
        if (x.dtype != DType::kFloat64) return Unsupported("nanmean of " + std::string(DTypeStr(x.dtype)));
        Operand a, b;
        a.array = &x;
        b.array = &x;
        DN_ASSIGN_OR_RETURN(NdArray not_nan, Binary("eq", a, b));  // x == x  <=>  !isnan(x)
        DN_ASSIGN_OR_RETURN(NdArray counts, Reduce(not_nan, ReduceSpec{"sum", axes, keepdims, DType::kInt64}));
        DN_ASSIGN_OR_RETURN(n, AsType(counts, DType::kFloat64));
        n.scalar = counts.scalar;
      }
      ReduceSpec spec{nan ? "nansum" : "sum", axes, keepdims, dt};
      DN_ASSIGN_OR_RETURN(NdArray total, Reduce(x, spec));
      return make_dict(std::move(n), std::move(total));
    }
    // combine / agg: nested lists of {"n", "total"} dicts, one level per axis.
    std::function<Result<Obj>(const Obj&, std::string_view)> pick = [&](const Obj& o, std::string_view name) -> Result<Obj> {
      if (o.kind == Obj::Kind::kSeq) {
        std::vector<Obj> out;
        for (const Obj& c : *o.items) {
          DN_ASSIGN_OR_RETURN(Obj v, pick(c, name));
          out.push_back(std::move(v));
        }
        return Obj::Seq(std::move(out));
      }
      const Obj* f = field(o, name);
      if (f == nullptr || f->kind != Obj::Kind::kArray) return Unsupported("mean partial without " + std::string(name));
      return *f;
    };
    if (argv[0].kind != Obj::Kind::kSeq) return Unsupported(step + " of a single dict");
    DN_ASSIGN_OR_RETURN(Obj ns, pick(argv[0], "n"));
    DN_ASSIGN_OR_RETURN(Obj totals, pick(argv[0], "total"));
    DN_ASSIGN_OR_RETURN(Obj n_cat, ConcatenateNested(ns, axes, 0));
    DN_ASSIGN_OR_RETURN(Obj t_cat, ConcatenateNested(totals, axes, 0));
    if (step == "mean_combine") {
      // .sum(axis=axis, keepdims=...) without a dtype.
      ReduceSpec spec{"sum", axes, keepdims, std::nullopt};
      DN_ASSIGN_OR_RETURN(NdArray n, Reduce(n_cat.array, spec));
      DN_ASSIGN_OR_RETURN(NdArray total, Reduce(t_cat.array, spec));
      return make_dict(std::move(n), std::move(total));
    }
    const DType dt = dtype.value_or(DType::kFloat64);
    if (dt != DType::kFloat64) return Unsupported("mean dtype");
    ReduceSpec spec{"sum", axes, keepdims, dt};
    DN_ASSIGN_OR_RETURN(NdArray n, Reduce(n_cat.array, spec));
    DN_ASSIGN_OR_RETURN(NdArray total, Reduce(t_cat.array, spec));
    // divide(total, n, dtype=f8): both float64 already.
    Operand a, b;
    a.array = &total;
    b.array = &n;
    DN_ASSIGN_OR_RETURN(NdArray out, Binary("truediv", a, b));
    return Obj::Array(std::move(out));
  }

  // dask.array.reductions.moment_chunk / moment_combine / moment_agg for order=2
  // (var and std), float64, following dask's code line by line so each numpy call has
  // the same operands, layout and therefore summation order.
  Result<Obj> Moment(const std::string& step, const std::vector<Obj>& argv, const Kwargs& kwargs) {
    if (argv.size() != 1) return Unsupported(step + " arguments");
    StepArgs r;
    int64_t ddof = 0;
    for (const auto& [k, v] : kwargs) {
      DN_ASSIGN_OR_RETURN(bool taken, TakeStepArg(k, v, &r));
      if (taken) {
        continue;
      } else if (k == "ddof" && v.kind == Obj::Kind::kInt) {
        ddof = v.i;
      } else if (k == "implicit_complex_dtype" && v.kind == Obj::Kind::kBool && !v.b) {
      } else if (k == "order" && v.kind == Obj::Kind::kInt && v.i == 2) {
      } else {
        return Unsupported(step + " keyword " + k);
      }
    }
    if (!r.have_axis || r.dtype.value_or(DType::kFloat64) != DType::kFloat64) return Unsupported(step + " options");
    const std::vector<int>& axes = r.axes;
    const bool keepdims = r.keepdims;
    auto binary = [](std::string_view op, const NdArray& x, const NdArray& y) {
      Operand a, b;
      a.array = &x;
      b.array = &y;
      return Binary(op, a, b);
    };
    auto stack_last = [](NdArray a) {  // np.stack([a], axis=-1)
      a = AsCContiguous(a);
      a.shape.push_back(1);
      a.strides.push_back(ItemSize(a.dtype));
      a.scalar = false;
      return a;
    };
    auto dict = [](std::vector<std::pair<std::string, NdArray>> fields) {
      Obj d = Obj::Seq({});
      d.kind = Obj::Kind::kDict;
      for (auto& [name, a] : fields) {
        Obj k;
        k.kind = Obj::Kind::kStr;
        k.s = name;
        d.items->push_back(std::move(k));
        d.items->push_back(Obj::Array(std::move(a)));
      }
      return d;
    };
    if (step == "moment_chunk") {
      if (argv[0].kind != Obj::Kind::kArray || argv[0].array.dtype != DType::kFloat64) {
        return Unsupported("moment_chunk input");
      }
      const NdArray& x = argv[0].array;
      // n = numel(A, axis, keepdims).astype(int64): the count in every kept position.
      int64_t count = 1;
      std::vector<int64_t> shape;
      for (int i = 0; i < x.ndim(); ++i) {
        bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
        if (reduced) count *= x.shape[i];
        if (!reduced) shape.push_back(x.shape[i]);
        else if (keepdims) shape.push_back(1);
      }
      uint8_t* p = nullptr;
      NdArray n = NdArray::Allocate(DType::kInt64, shape, &p);
      std::fill_n(reinterpret_cast<int64_t*>(p), n.size(), count);
      DN_ASSIGN_OR_RETURN(NdArray total, Reduce(x, ReduceSpec{"sum", axes, keepdims, DType::kFloat64}));
      DN_ASSIGN_OR_RETURN(NdArray u, binary("truediv", total, n));
      // sum((A - u)**2, dtype=f8, axis, keepdims), with numpy's temporary layout.
      DN_ASSIGN_OR_RETURN(NdArray m, SumSquaredDeviationsOf(x, axes, keepdims, AsCContiguous(u)));
      return dict({{"total", std::move(total)}, {"n", std::move(n)}, {"M", stack_last(std::move(m))}});
    }
    if (argv[0].kind != Obj::Kind::kSeq) return Unsupported(step + " of a single dict");
    DN_ASSIGN_OR_RETURN(NdArray ns, ConcatField(argv[0], "n", axes));
    DN_ASSIGN_OR_RETURN(NdArray totals, ConcatField(argv[0], "total", axes));
    DN_ASSIGN_OR_RETURN(NdArray ms, ConcatField(argv[0], "M", axes));
    if (ms.ndim() < 1 || ms.shape.back() != 1) return Unsupported("M layout");
    NdArray m0 = ms;  // Ms[..., 0]
    m0.shape.pop_back();
    m0.strides.pop_back();
    const bool agg = step == "moment_agg";
    // n and sum(totals) keep their dims in both steps (keepdims=True, dtype=None).
    DN_ASSIGN_OR_RETURN(NdArray n, Reduce(ns, ReduceSpec{"sum", axes, true, std::nullopt}));
    DN_ASSIGN_OR_RETURN(NdArray total, Reduce(totals, ReduceSpec{"sum", axes, true, std::nullopt}));
    DN_ASSIGN_OR_RETURN(NdArray mu, binary("truediv", total, n));
    DN_ASSIGN_OR_RETURN(NdArray ratio, binary("truediv", totals, ns));
    DN_ASSIGN_OR_RETURN(NdArray inner, binary("sub", ratio, mu));
    if (agg) {
      // inner_term = np.where(ns == 0, 0, inner_term)
      Operand a, zero;
      a.array = &ns;
      zero.scalar = Operand::Scalar::kInt;
      zero.i = 0;
      DN_ASSIGN_OR_RETURN(NdArray empty, Binary("eq", a, zero));
      DN_ASSIGN_OR_RETURN(inner, Where(empty, 0.0, inner));
    }
    // _moment_helper, order 2: Ms[..., 0].sum(axis, **kw) + sum(ns * inner**2, axis, **kw)
    const bool kd = agg ? keepdims : true;
    std::optional<DType> dt = agg ? std::optional<DType>(DType::kFloat64) : std::nullopt;
    DN_ASSIGN_OR_RETURN(NdArray sq, binary("mul", inner, inner));
    DN_ASSIGN_OR_RETURN(NdArray weighted, binary("mul", ns, sq));
    DN_ASSIGN_OR_RETURN(NdArray s1, Reduce(m0, ReduceSpec{"sum", axes, kd, dt}));
    DN_ASSIGN_OR_RETURN(NdArray s2, Reduce(weighted, ReduceSpec{"sum", axes, kd, dt}));
    DN_ASSIGN_OR_RETURN(NdArray m, binary("add", s1, s2));
    if (!agg) {
      return dict({{"total", std::move(total)}, {"n", std::move(n)}, {"M", stack_last(std::move(m))}});
    }
    // denominator = n.sum(axis, dtype=f8, keepdims) - ddof; negative -> nan.
    DN_ASSIGN_OR_RETURN(NdArray denom, Reduce(n, ReduceSpec{"sum", axes, keepdims, DType::kFloat64}));
    Operand d, dd;
    d.array = &denom;
    dd.scalar = Operand::Scalar::kInt;
    dd.i = ddof;
    DN_ASSIGN_OR_RETURN(NdArray denominator, Binary("sub", d, dd));
    {
      NdArray c = AsCContiguous(denominator);
      double* v = const_cast<double*>(c.ptr<double>());  // freshly allocated by Binary
      for (int64_t i = 0; i < c.size(); ++i) {
        if (v[i] < 0) v[i] = std::numeric_limits<double>::quiet_NaN();
      }
      denominator = c;
    }
    DN_ASSIGN_OR_RETURN(NdArray out, binary("truediv", m, denominator));
    return Obj::Array(std::move(out));
  }

  Result<NdArray> ConcatField(const Obj& nested, std::string_view name, const std::vector<int>& axes) {
    std::function<Result<Obj>(const Obj&)> pick = [&](const Obj& o) -> Result<Obj> {
      if (o.kind == Obj::Kind::kSeq) {
        std::vector<Obj> out;
        for (const Obj& c : *o.items) {
          DN_ASSIGN_OR_RETURN(Obj v, pick(c));
          out.push_back(std::move(v));
        }
        return Obj::Seq(std::move(out));
      }
      if (o.kind == Obj::Kind::kDict) {
        for (size_t i = 0; i + 1 < o.items->size(); i += 2) {
          if ((*o.items)[i].kind == Obj::Kind::kStr && (*o.items)[i].s == name &&
              (*o.items)[i + 1].kind == Obj::Kind::kArray) {
            return (*o.items)[i + 1];
          }
        }
      }
      return Unsupported("partial without " + std::string(name));
    };
    DN_ASSIGN_OR_RETURN(Obj picked, pick(nested));
    DN_ASSIGN_OR_RETURN(Obj cat, ConcatenateNested(picked, axes, 0));
    return cat.array;
  }

  // chunk.arange(start, stop, step, length, dtype, like=None):
  // np.arange(start, stop, step, dtype)[:length], filled as numpy fills: the first two
  // values are start and start + step (Python arithmetic), then start + i * delta with
  // delta = second - first, in the result dtype (numpy's <TYPE>_fill).
  Result<Obj> Arange(const std::vector<Obj>& argv, const Kwargs& kwargs) {
    if (argv.size() != 5 || argv[4].kind != Obj::Kind::kDType) return Unsupported("arange arguments");
    for (const auto& [k, v] : kwargs) {
      if (k != "like" || v.kind != Obj::Kind::kNone) return Unsupported("arange keyword " + k);
    }
    for (int i = 0; i < 4; ++i) {
      if (argv[i].kind != Obj::Kind::kInt && (i == 3 || argv[i].kind != Obj::Kind::kFloat)) {
        return Unsupported("arange bounds");
      }
    }
    const bool ints = argv[0].kind == Obj::Kind::kInt && argv[1].kind == Obj::Kind::kInt &&
                      argv[2].kind == Obj::Kind::kInt;
    auto num = [](const Obj& o) { return o.kind == Obj::Kind::kInt ? static_cast<double>(o.i) : o.f; };
    const double start = num(argv[0]), stop = num(argv[1]), step = num(argv[2]);
    if (step == 0) return Status::Invalid("arange step is zero");
    int64_t len = static_cast<int64_t>(std::ceil((stop - start) / step));
    if (ints) {
      // Python ints: the length comes from exact integer arithmetic.
      int64_t a = argv[0].i, b = argv[1].i, c = argv[2].i;
      len = c > 0 ? (b > a ? (b - a + c - 1) / c : 0) : (a > b ? (a - b - c - 1) / -c : 0);
    }
    len = std::max<int64_t>(len, 0);
    const int64_t length = argv[3].i;
    if (len > length) len -= 1;  // res[:-1] if len(res) > length
    DType dt = argv[4].dtype;
    uint8_t* p = nullptr;
    NdArray out = NdArray::Allocate(dt, {len}, &p);
    if (dt == DType::kInt64) {
      if (!ints) return Unsupported("float arange into int64");
      int64_t first = argv[0].i, delta = (argv[0].i + argv[2].i) - first;
      auto* o = reinterpret_cast<int64_t*>(p);
      for (int64_t i = 0; i < len; ++i) o[i] = first + i * delta;
    } else if (dt == DType::kFloat64) {
      double first = start;
      double second = ints ? static_cast<double>(argv[0].i + argv[2].i) : num(argv[0]) + num(argv[2]);
      double delta = second - first;
      auto* o = reinterpret_cast<double*>(p);
      for (int64_t i = 0; i < len; ++i) {
        o[i] = i == 0 ? first : i == 1 ? second : first + static_cast<double>(i) * delta;
      }
    } else {
      return Unsupported("arange dtype");
    }
    return Obj::Array(std::move(out));
  }

  // _apply_random(RandomState, funcname, state_data, size, args, kwargs):
  // RandomState(state_data).<funcname>(*args, size=size, **kwargs).
  Result<Obj> ApplyRandom(const std::vector<Obj>& argv) {
    if (argv.size() != 6 || argv[0].kind != Obj::Kind::kClass || argv[0].s != "numpy.random.mtrand.RandomState" ||
        argv[1].kind != Obj::Kind::kStr || argv[2].kind != Obj::Kind::kArray || argv[3].kind != Obj::Kind::kSeq ||
        argv[4].kind != Obj::Kind::kSeq || argv[5].kind != Obj::Kind::kDict) {
      return Unsupported("_apply_random arguments");
    }
    const NdArray& state = argv[2].array;
    if (state.dtype != DType::kUInt32 || state.ndim() != 1 || !state.IsCContiguous()) return Unsupported("random state");
    DN_ASSIGN_OR_RETURN(std::vector<int64_t> size, RandomSize(argv[3]));
    if (argv[1].s == "randint") {  // dask passes dtype as a keyword ('l' by default)
      DN_ASSIGN_OR_RETURN(IntegerBounds b, IntegerArgs(*argv[4].items, *argv[5].items, /*generator=*/false));
      DN_ASSIGN_OR_RETURN(NdArray out, RandintChunk(state.ptr<uint32_t>(), state.shape[0], size, b));
      return Obj::Array(std::move(out));
    }
    if (!argv[5].items->empty()) return Unsupported("_apply_random keywords");
    DN_ASSIGN_OR_RETURN(std::vector<double> params, RandomParams(argv[4]));
    DN_ASSIGN_OR_RETURN(NdArray out, RandomChunk(argv[1].s, state.ptr<uint32_t>(), state.shape[0], size, params));
    return Obj::Array(std::move(out));
  }

  // _apply_random_func(PCG64, funcname, SeedSequence, size, args, kwargs):
  // Generator(PCG64(seedseq)).<funcname>(*args, size=size, **kwargs).
  Result<Obj> ApplyRandomFunc(const std::vector<Obj>& argv) {
    if (argv.size() != 6 || argv[0].kind != Obj::Kind::kClass || argv[0].s != "numpy.random._pcg64.PCG64" ||
        argv[1].kind != Obj::Kind::kStr || argv[2].kind != Obj::Kind::kArray || argv[2].s != "SeedSequence" ||
        argv[3].kind != Obj::Kind::kSeq || argv[4].kind != Obj::Kind::kSeq || argv[5].kind != Obj::Kind::kDict) {
      return Unsupported("_apply_random_func arguments");
    }
    const std::string& method = argv[1].s;
    const uint32_t* pool = argv[2].array.ptr<uint32_t>();
    DN_ASSIGN_OR_RETURN(std::vector<int64_t> size, RandomSize(argv[3]));
    const auto& kw = *argv[5].items;
    if (method == "integers") {  // dask passes high, dtype and endpoint as keywords
      DN_ASSIGN_OR_RETURN(IntegerBounds b, IntegerArgs(*argv[4].items, kw, /*generator=*/true));
      DN_ASSIGN_OR_RETURN(NdArray out, GeneratorIntegersChunk(pool, size, b));
      return Obj::Array(std::move(out));
    }
    // Only float64 output into a fresh array: random and standard_normal take
    // {'dtype': numpy.float64, 'out': None}; the other methods take no keywords.
    const bool takes_dtype = method == "random" || method == "standard_normal";
    for (size_t i = 0; i + 1 < kw.size(); i += 2) {
      if (kw[i].kind != Obj::Kind::kStr || !takes_dtype) return Unsupported("random kwargs");
      const Obj& v = kw[i + 1];
      if (kw[i].s == "dtype" && ((v.kind == Obj::Kind::kClass && v.s == "numpy.float64") ||
                                 (v.kind == Obj::Kind::kDType && v.dtype == DType::kFloat64))) continue;
      if (kw[i].s == "out" && v.kind == Obj::Kind::kNone) continue;
      return Unsupported("Generator keyword " + kw[i].s);
    }
    DN_ASSIGN_OR_RETURN(std::vector<double> params, RandomParams(argv[4]));
    DN_ASSIGN_OR_RETURN(NdArray out, GeneratorChunk(method, pool, size, params));
    return Obj::Array(std::move(out));
  }

  // A random chunk's size tuple.
  static Result<std::vector<int64_t>> RandomSize(const Obj& seq) {
    std::vector<int64_t> size;
    for (const Obj& d : *seq.items) {
      if (d.kind != Obj::Kind::kInt || d.i < 0) return Unsupported("random size");
      size.push_back(d.i);
    }
    return size;
  }

  // Scalar float parameters, converted as numpy's PyFloat_AsDouble does (an int
  // rounds to nearest).
  static Result<std::vector<double>> RandomParams(const Obj& seq) {
    std::vector<double> params;
    for (const Obj& p : *seq.items) {
      if (p.kind == Obj::Kind::kInt) params.push_back(static_cast<double>(p.i));
      else if (p.kind == Obj::Kind::kFloat) params.push_back(p.f);
      else return Unsupported("random parameter");
    }
    return params;
  }

  // RandomState.randint(low, high=None, size, dtype=int) and Generator.integers(low,
  // high=None, size, dtype=int64, endpoint=False), from dask's args and kwargs: Python
  // int bounds only (others run in Python), [0, low) when high is None. Bounds are
  // checked against the dtype by the kernels.
  static Result<IntegerBounds> IntegerArgs(const std::vector<Obj>& args, const std::vector<Obj>& kw, bool generator) {
    if (args.size() > 2) return Unsupported("integer draw arguments");
    const Obj* low = args.empty() ? nullptr : &args[0];
    const Obj* high = args.size() == 2 ? &args[1] : nullptr;
    bool endpoint = false;
    IntegerBounds b;
    for (size_t i = 0; i + 1 < kw.size(); i += 2) {
      const Obj& v = kw[i + 1];
      const std::string& k = kw[i].kind == Obj::Kind::kStr ? kw[i].s : std::string();
      if (k == "low" && low == nullptr) {
        low = &v;
      } else if (k == "high" && high == nullptr) {
        high = &v;
      } else if (k == "endpoint" && generator && v.kind == Obj::Kind::kBool) {
        endpoint = v.b;
      } else if (k == "dtype") {
        std::optional<DType> dt;
        if (v.kind == Obj::Kind::kDType) dt = v.dtype;
        if (v.kind == Obj::Kind::kStr) {
          Result<DType> parsed = ParseDType(v.s);  // 'l' (dask's default), 'i8', 'int32', ...
          if (parsed.ok()) dt = *parsed;
        }
        if (v.kind == Obj::Kind::kClass && (v.s == "numpy.int64" || v.s == "builtins.int")) dt = DType::kInt64;
        if (v.kind == Obj::Kind::kClass && v.s == "numpy.int32") dt = DType::kInt32;
        if (dt != DType::kInt64 && dt != DType::kInt32) return Unsupported("integer draw dtype");
        b.dtype = *dt;
      } else {
        return Unsupported("integer draw keyword " + k);
      }
    }
    if (low == nullptr || low->kind != Obj::Kind::kInt) return Unsupported("integer draw bounds");
    int64_t hi = low->i;
    b.low = 0;
    if (high != nullptr && high->kind != Obj::Kind::kNone) {
      if (high->kind != Obj::Kind::kInt) return Unsupported("integer draw bounds");
      b.low = low->i;
      hi = high->i;
    }
    if (!endpoint) {
      if (hi == std::numeric_limits<int64_t>::min()) return Unsupported("empty integer range");
      --hi;
    }
    b.high = hi;
    return b;
  }

  Result<Obj> Reduction(const std::string& name, const std::vector<Obj>& argv, const Kwargs& kwargs) {
    if (argv.size() != 1 || argv[0].kind != Obj::Kind::kArray) return Unsupported(name + " of a non-array");
    const NdArray& x = argv[0].array;
    ReduceSpec spec;
    spec.op = name == "amax" ? "max" : name == "amin" ? "min" : name;
    if (const Obj* ax = FindKwarg(kwargs, "axis"); ax != nullptr && ax->kind != Obj::Kind::kNone) {
      auto add = [&](const Obj& a) -> Status {
        if (a.kind != Obj::Kind::kInt) return Unsupported("axis");
        int64_t v = a.i < 0 ? a.i + x.ndim() : a.i;
        if (v < 0 || v >= x.ndim()) return Status::Invalid("axis out of range");
        spec.axes.push_back(static_cast<int>(v));
        return Status::OK();
      };
      if (ax->kind == Obj::Kind::kSeq) {
        for (const Obj& a : *ax->items) DN_RETURN_NOT_OK(add(a));
      } else {
        DN_RETURN_NOT_OK(add(*ax));
      }
    } else {
      for (int i = 0; i < x.ndim(); ++i) spec.axes.push_back(i);
    }
    if (const Obj* kd = FindKwarg(kwargs, "keepdims"); kd != nullptr) {
      if (kd->kind != Obj::Kind::kBool) return Unsupported("keepdims");
      spec.keepdims = kd->b;
    }
    if (const Obj* dt = FindKwarg(kwargs, "dtype"); dt != nullptr && dt->kind != Obj::Kind::kNone) {
      if (dt->kind != Obj::Kind::kDType) return Unsupported("reduction dtype");
      spec.dtype = dt->dtype;
    }
    for (const auto& [k, v] : kwargs) {
      if (k != "axis" && k != "keepdims" && k != "dtype") return Unsupported(name + " keyword " + k);
    }
    DN_ASSIGN_OR_RETURN(NdArray out, Reduce(x, spec));
    return Obj::Array(std::move(out));
  }

  // dask.array.reductions.arg_chunk(func, argfunc, x, axis, offset_info) and
  // arg_combine / arg_agg / nanarg_agg(argfunc, data, axis=, keepdims=): partials are
  // structured arrays [("vals", ...), ("arg", "<i8")] (worker/native/arg_reduce.h).
  Result<Obj> ArgReduction(const std::string& step, const std::vector<Obj>& argv, const Kwargs& kwargs) {
    auto name = [](const Obj& o) { return o.kind == Obj::Kind::kClass ? o.s : std::string(); };
    auto ints = [](const Obj& o, std::vector<int64_t>* out) {
      if (o.kind != Obj::Kind::kSeq) return false;
      for (const Obj& v : *o.items) {
        if (v.kind != Obj::Kind::kInt) return false;
        out->push_back(v.i);
      }
      return true;
    };
    auto records = [](ArgPartial p) {
      Obj r = Obj::Seq({});
      r.kind = Obj::Kind::kRecords;
      for (auto* field : {&p.vals, &p.arg}) {
        Obj k;
        k.kind = Obj::Kind::kStr;
        k.s = field == &p.vals ? "vals" : "arg";
        r.items->push_back(std::move(k));
        r.items->push_back(Obj::Array(std::move(*field)));
      }
      return r;
    };
    const bool chunk = step == "arg_chunk";
    std::optional<ArgKind> kind = argv.size() > 1 ? ArgKindOf(name(argv[chunk ? 1 : 0])) : std::nullopt;
    if (!kind) return Unsupported(step + " of this argfunc");
    if (chunk) {
      std::vector<int64_t> axes;
      ArgOffset off;
      const Obj* info = argv.size() == 5 ? &argv[4] : nullptr;
      if (info == nullptr || !kwargs.empty() || !IsArgChunkFunc(*kind, name(argv[0])) ||
          argv[2].kind != Obj::Kind::kArray || !ints(argv[3], &axes)) {
        return Unsupported("arg_chunk arguments");
      }
      if (info->kind == Obj::Kind::kInt) {
        off.along = info->i;
      } else if (info->kind != Obj::Kind::kSeq || info->items->size() != 2 ||
                 !ints((*info->items)[0], &off.origin) || !ints((*info->items)[1], &off.total_shape)) {
        return Unsupported("arg_chunk offset_info");
      }
      const std::vector<int> axis(axes.begin(), axes.end());
      DN_ASSIGN_OR_RETURN(ArgPartial p, ArgChunk(*kind, argv[2].array, axis, off));
      return records(std::move(p));
    }
    StepArgs r;
    for (const auto& [k, v] : kwargs) {
      DN_ASSIGN_OR_RETURN(bool taken, TakeStepArg(k, v, &r));
      if (!taken || k == "dtype") return Unsupported(step + " keyword " + k);
    }
    const Obj& data = argv[1];
    if (argv.size() != 2 || !r.have_axis || data.kind != Obj::Kind::kRecords || data.items->size() != 4 ||
        (*data.items)[0].s != "vals" || (*data.items)[2].s != "arg") {
      return Unsupported(step + " arguments");
    }
    ArgPartial partials{(*data.items)[1].array, (*data.items)[3].array};
    // arg_combine always keeps dims; the aggregates take keepdims (default False).
    DN_ASSIGN_OR_RETURN(ArgPartial out, ArgCombine(*kind, partials, r.axes, step == "arg_combine" || r.keepdims));
    if (step == "arg_combine") return records(std::move(out));
    if (step == "nanarg_agg" && AnyNaN(out.vals)) return Unsupported("an all-NaN slice: Python raises ValueError");
    return Obj::Array(std::move(out.arg));
  }

  // _concatenate2: nested lists of arrays (or of structured arrays, field by field),
  // one nesting level per axis in `axes`.
  Result<Obj> ConcatenateNested(const Obj& nested, const std::vector<int>& axes, size_t level) {
    if (level == axes.size()) {
      if (nested.kind != Obj::Kind::kArray && nested.kind != Obj::Kind::kRecords) {
        return Unsupported("concatenate of a non-array");
      }
      return nested;
    }
    if (nested.kind != Obj::Kind::kSeq || nested.items->empty()) return Unsupported("concatenate nesting");
    std::vector<Obj> parts;
    for (const Obj& item : *nested.items) {
      DN_ASSIGN_OR_RETURN(Obj p, ConcatenateNested(item, axes, level + 1));
      parts.push_back(std::move(p));
    }
    // Each field of the structured parts on its own: the same values np.concatenate gives.
    const Obj& first = parts[0];
    const size_t nfields = first.kind == Obj::Kind::kRecords ? first.items->size() / 2 : 1;
    auto like_first = [&](const Obj& p, size_t f) {
      return p.kind == first.kind && (p.kind == Obj::Kind::kArray ||
                                      (p.items->size() == first.items->size() &&
                                       (*p.items)[2 * f].s == (*first.items)[2 * f].s));
    };
    Obj out = Obj::Seq({});
    out.kind = Obj::Kind::kRecords;
    for (size_t f = 0; f < nfields; ++f) {
      std::vector<NdArray> arrays;
      for (const Obj& p : parts) {
        if (!like_first(p, f)) return Unsupported("concatenate of unlike parts");
        arrays.push_back(p.kind == Obj::Kind::kArray ? p.array : (*p.items)[2 * f + 1].array);
      }
      DN_ASSIGN_OR_RETURN(NdArray cat, Concatenate(arrays, axes[level]));
      if (first.kind == Obj::Kind::kArray) return Obj::Array(std::move(cat));
      out.items->push_back((*first.items)[2 * f]);
      out.items->push_back(Obj::Array(std::move(cat)));
    }
    return out;
  }

  const PickleTree& t_;
  const DependencyLookup& deps_;
  int depth_ = 0;
};

}  // namespace

Result<NativeValue> EvaluateRunSpec(const PickleTree& run_spec, const DependencyLookup& deps) {
  if (run_spec.root() == kNoNode) return Status::Invalid("empty run_spec");
  Evaluator ev(run_spec, deps);
  DN_ASSIGN_OR_RETURN(Obj result, ev.EvalArg(run_spec.root(), nullptr));
  NativeValue out;
  if (result.kind == Obj::Kind::kArray) {
    out.array = std::move(result.array);
    return out;
  }
  if ((result.kind == Obj::Kind::kDict || result.kind == Obj::Kind::kRecords) && !result.items->empty()) {
    for (size_t i = 0; i + 1 < result.items->size(); i += 2) {
      const Obj& k = (*result.items)[i];
      const Obj& v = (*result.items)[i + 1];
      if (k.kind != Obj::Kind::kStr || v.kind != Obj::Kind::kArray) return Status::NotImplemented("dict result");
      out.fields.emplace_back(k.s, v.array);
    }
    if (result.kind == Obj::Kind::kRecords) return MakeRecords(std::move(out.fields));
    return out;
  }
  return Status::NotImplemented("result is not an array");
}

}  // namespace dn::native
