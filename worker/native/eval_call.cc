#include "worker/native/eval_call.h"

#include <utility>

#include "worker/native/elementwise.h"
#include "worker/native/eval_creation.h"
#include "worker/native/eval_reductions.h"
#include "worker/native/kernels.h"

namespace dn::native::eval {

namespace {

Result<Operand> ToOperand(const Obj& o) {
  Operand op;
  switch (o.kind) {
    case Obj::Kind::kArray: op.array = &o.array; return op;
    case Obj::Kind::kFloat:
      op.scalar = Operand::Scalar::kFloat;
      op.f = o.f;
      return op;
    case Obj::Kind::kInt:
      op.scalar = Operand::Scalar::kInt;
      op.i = o.i;
      return op;
    case Obj::Kind::kBool:
      op.scalar = Operand::Scalar::kBool;
      op.i = o.b;
      return op;
    default: return Unsupported("operand");
  }
}

}  // namespace

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
      const Obj* typ =
          FindKwarg(kwargs, fn.kind == Fn::Kind::kIdentityCast ? "typ" : "constructor");
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
      if (argv.size() != 1 || axes == nullptr || axes->kind != Obj::Kind::kSeq)
        return Unsupported("_concatenate2 args");
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
      for (const Obj* p = &argv[0]; p->kind == Obj::Kind::kSeq && !p->items->empty();
           p = &(*p->items)[0])
        ++depth;
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
      if (argv.empty() || argv[0].kind != Obj::Kind::kArray)
        return Unsupported("transpose of a non-array");
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
      if (argv.size() != 2 || argv[0].kind != Obj::Kind::kArray)
        return Unsupported("getitem arguments");
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
      if (argv.size() != 1 || argv[0].kind != Obj::Kind::kArray || kwargs.size() != 2 ||
          dt == nullptr || dt->kind != Obj::Kind::kDType || f == nullptr ||
          f->kind != Obj::Kind::kClass || f->s != "dask.array.reductions._sqrt") {
        return Unsupported("_enforce_dtype of this function");
      }
      DN_ASSIGN_OR_RETURN(NdArray r, Sqrt(argv[0].array));
      if (r.dtype != dt->dtype) return Unsupported("_enforce_dtype cast");
      return Obj::Array(std::move(r));
    }
    case Fn::Kind::kAsType: {
      const Obj* dt = argv.size() > 1 ? &argv[1] : FindKwarg(kwargs, "astype_dtype");
      if (argv.empty() || argv[0].kind != Obj::Kind::kArray || dt == nullptr ||
          dt->kind != Obj::Kind::kDType || kwargs.size() > 1) {
        return Unsupported("astype arguments");
      }
      DN_ASSIGN_OR_RETURN(NdArray r, AsType(argv[0].array, dt->dtype));
      return Obj::Array(std::move(r));
    }
    case Fn::Kind::kExecuteSubgraph: return Unsupported("_execute_subgraph called indirectly");
  }
  return Unsupported("callable");
}

}  // namespace dn::native::eval
