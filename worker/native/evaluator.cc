#include "worker/native/evaluator.h"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "worker/native/eval_call.h"
#include "worker/native/eval_value.h"
#include "worker/native/keepdims_wrapper.h"
#include "worker/native/records.h"

namespace dn::native {

namespace {

using eval::Call;
using eval::FindKwarg;
using eval::Fn;
using eval::Kwargs;
using eval::Obj;
using eval::Unsupported;

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
    auto k = Key::FromPickle(t_, id);
    if (!k.ok()) return Unsupported(k.status().message());
    return k;
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
      if (slots.size() != 11 || N(slots[5]).kind != PickleKind::kTuple)
        return Unsupported("container state");
      std::vector<Obj> items;
      for (NodeId a : N(slots[5]).items) {
        DN_ASSIGN_OR_RETURN(Obj v, EvalArg(a, scope));
        items.push_back(std::move(v));
      }
      return Obj::Seq(std::move(items));
    }
    // Task: (_data_producer, _dependencies, _is_coro, _repr, _token, args, func, key, kwargs)
    if (slots.size() != 9)
      return Unsupported("Task state of " + std::to_string(slots.size()) + " slots");
    const PickleNode& args = N(slots[5]);
    if (args.kind != PickleKind::kTuple) return Status::Invalid("Task args is not a tuple");
    if (N(slots[2]).kind == PickleKind::kBool && N(slots[2]).flag)
      return Unsupported("coroutine task");
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
        if (N(kw.items[i]).kind != PickleKind::kStr)
          return Status::Invalid("kwarg name is not a str");
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
    if (args.size() < 3)
      return Status::Invalid("_execute_subgraph takes (dsk, outkey, inkeys, *deps)");
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
      } else if (mod == "_operator" &&
                 (name == "add" || name == "sub" || name == "mul" || name == "truediv" ||
                  name == "gt" || name == "ge" || name == "lt" || name == "le" || name == "eq" ||
                  name == "ne")) {
        return make(Fn::Kind::kBinary, std::string(name));
      } else if ((mod == "numpy" || mod == "numpy._core.multiarray" ||
                  mod == "numpy.core.multiarray") &&
                 name == "where") {
        return make(Fn::Kind::kWhere);
      } else if ((mod == "numpy" || mod == "numpy._core.fromnumeric" ||
                  mod == "numpy.core.fromnumeric") &&
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
      } else if ((mod == "numpy" || mod == "dask.array.chunk" ||
                  mod == "numpy.lib._nanfunctions_impl") &&
                 name == "nansum") {
        return make(Fn::Kind::kReduction, "nansum");
      } else if (mod == "numpy" || mod == "numpy.core.fromnumeric" ||
                 mod == "numpy._core.fromnumeric") {
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
      if (n.state == kNoNode || N(n.state).kind != PickleKind::kTuple ||
          N(n.state).items.size() != 4) {
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
      if (a == nullptr || a->size() < 4 ||
          t_.str((*a)[1]) != "dask.array.wrap:_broadcast_trick_inner" ||
          N((*a)[2]).kind != PickleKind::kTuple || N((*a)[2]).items.size() != 1 ||
          !(N((*a)[3]).kind == PickleKind::kDict && N((*a)[3]).items.empty())) {
        return Unsupported("curried callable");
      }
      NodeId like = N((*a)[2]).items[0];
      for (std::string_view what : {"ones", "zeros", "full"}) {
        if (GlobalIs(like, "numpy", std::string(what) + "_like"))
          return make(Fn::Kind::kBroadcastFill, std::string(what));
      }
      return Unsupported("broadcast trick of another function");
    }
    if (n.kind == PickleKind::kNewObj && GlobalIs(Head(id), "toolz.functoolz", "Compose")) {
      // NEWOBJ(Compose, ()) + BUILD((first, funcs)).
      if (n.state == kNoNode || N(n.state).kind != PickleKind::kTuple ||
          N(n.state).items.size() != 2 || N(N(n.state).items[1]).kind != PickleKind::kTuple) {
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
      case PickleKind::kBool:
        o.kind = Obj::Kind::kBool;
        o.b = n.flag;
        return o;
      case PickleKind::kInt:
        o.kind = Obj::Kind::kInt;
        o.i = n.int_value;
        return o;
      case PickleKind::kFloat:
        o.kind = Obj::Kind::kFloat;
        o.f = n.float_value;
        return o;
      case PickleKind::kStr:
        o.kind = Obj::Kind::kStr;
        o.s = std::string(t_.str(id));
        return o;
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
          if (n.state == kNoNode || N(n.state).kind != PickleKind::kTuple ||
              N(n.state).items.size() != 5) {
            return Unsupported("SeedSequence state");
          }
          DN_ASSIGN_OR_RETURN(Obj pool, EvalData(N(n.state).items[2]));
          DN_ASSIGN_OR_RETURN(Obj pool_size, EvalData(N(n.state).items[3]));
          if (pool.kind != Obj::Kind::kArray || pool.array.dtype != DType::kUInt32 ||
              pool.array.size() != 4 || !pool.array.IsCContiguous() ||
              pool_size.kind != Obj::Kind::kInt || pool_size.i != 4) {
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
            if (v.kind != Obj::Kind::kNone && v.kind != Obj::Kind::kInt)
              return Unsupported("slice bound");
            sl.items->push_back(std::move(v));
          }
          return sl;
        }
        if (GlobalIs(h, "numpy._core.numeric", "_frombuffer") ||
            GlobalIs(h, "numpy.core.numeric", "_frombuffer")) {
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
    if (args.size() != 4 || N(args[0]).kind != PickleKind::kBuffer)
      return Unsupported("_frombuffer");
    int64_t index = N(args[0]).int_value;
    if (index < 0 || static_cast<size_t>(index) >= t_.buffers().size())
      return Status::Invalid("buffer index");
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
    if (static_cast<int64_t>(a.data.size()) != a.nbytes())
      return Status::Invalid("buffer size does not match shape");
    return Obj::Array(std::move(a));
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
  if ((result.kind == Obj::Kind::kDict || result.kind == Obj::Kind::kRecords) &&
      !result.items->empty()) {
    for (size_t i = 0; i + 1 < result.items->size(); i += 2) {
      const Obj& k = (*result.items)[i];
      const Obj& v = (*result.items)[i + 1];
      if (k.kind != Obj::Kind::kStr || v.kind != Obj::Kind::kArray)
        return Status::NotImplemented("dict result");
      out.fields.emplace_back(k.s, v.array);
    }
    if (result.kind == Obj::Kind::kRecords) return MakeRecords(std::move(out.fields));
    return out;
  }
  return Status::NotImplemented("result is not an array");
}

}  // namespace dn::native
