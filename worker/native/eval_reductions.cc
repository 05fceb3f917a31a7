#include "worker/native/eval_reductions.h"

#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "worker/native/arg_reduce.h"
#include "worker/native/elementwise.h"
#include "worker/native/keepdims_wrapper.h"
#include "worker/native/kernels.h"
#include "worker/native/records.h"

namespace dn::native::eval {

namespace {

// The keywords dask passes to every reduction step: axis (a tuple), keepdims, dtype.
struct StepArgs {
  std::vector<int> axes;
  bool have_axis = false;
  bool keepdims = false;
  std::optional<DType> dtype;
};
// Take `k` into `r` if it is one of those; false for other keywords.
Result<bool> TakeStepArg(const std::string& k, const Obj& v, StepArgs* r) {
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

Result<NdArray> ConcatField(const Obj& nested, std::string_view name,
                            const std::vector<int>& axes) {
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

}  // namespace

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
    } else if (k == "numel" && v.kind == Obj::Kind::kClass &&
               v.s == "dask.array.reductions.nannumel") {
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
      if ((*d.items)[i].kind == Obj::Kind::kStr && (*d.items)[i].s == name)
        return &(*d.items)[i + 1];
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
      if (!reduced)
        shape.push_back(x.shape[i]);
      else if (keepdims)
        shape.push_back(1);
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
      if (x.dtype != DType::kFloat64)
        return Unsupported("nanmean of " + std::string(DTypeStr(x.dtype)));
      Operand a, b;
      a.array = &x;
      b.array = &x;
      DN_ASSIGN_OR_RETURN(NdArray not_nan, Binary("eq", a, b));  // x == x  <=>  !isnan(x)
      DN_ASSIGN_OR_RETURN(NdArray counts,
                          Reduce(not_nan, ReduceSpec{"sum", axes, keepdims, DType::kInt64}));
      DN_ASSIGN_OR_RETURN(n, AsType(counts, DType::kFloat64));
      n.scalar = counts.scalar;
    }
    ReduceSpec spec{nan ? "nansum" : "sum", axes, keepdims, dt};
    DN_ASSIGN_OR_RETURN(NdArray total, Reduce(x, spec));
    return make_dict(std::move(n), std::move(total));
  }
  // combine / agg: nested lists of {"n", "total"} dicts, one level per axis.
  std::function<Result<Obj>(const Obj&, std::string_view)> pick =
      [&](const Obj& o, std::string_view name) -> Result<Obj> {
    if (o.kind == Obj::Kind::kSeq) {
      std::vector<Obj> out;
      for (const Obj& c : *o.items) {
        DN_ASSIGN_OR_RETURN(Obj v, pick(c, name));
        out.push_back(std::move(v));
      }
      return Obj::Seq(std::move(out));
    }
    const Obj* f = field(o, name);
    if (f == nullptr || f->kind != Obj::Kind::kArray)
      return Unsupported("mean partial without " + std::string(name));
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
  if (!r.have_axis || r.dtype.value_or(DType::kFloat64) != DType::kFloat64)
    return Unsupported(step + " options");
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
      if (!reduced)
        shape.push_back(x.shape[i]);
      else if (keepdims)
        shape.push_back(1);
    }
    uint8_t* p = nullptr;
    NdArray n = NdArray::Allocate(DType::kInt64, shape, &p);
    std::fill_n(reinterpret_cast<int64_t*>(p), n.size(), count);
    DN_ASSIGN_OR_RETURN(NdArray total,
                        Reduce(x, ReduceSpec{"sum", axes, keepdims, DType::kFloat64}));
    DN_ASSIGN_OR_RETURN(NdArray u, binary("truediv", total, n));
    // sum((A - u)**2, dtype=f8, axis, keepdims), with numpy's temporary layout.
    DN_ASSIGN_OR_RETURN(NdArray m, SumSquaredDeviationsOf(x, axes, keepdims, AsCContiguous(u)));
    return dict(
        {{"total", std::move(total)}, {"n", std::move(n)}, {"M", stack_last(std::move(m))}});
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
    return dict(
        {{"total", std::move(total)}, {"n", std::move(n)}, {"M", stack_last(std::move(m))}});
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

Result<Obj> Reduction(const std::string& name, const std::vector<Obj>& argv, const Kwargs& kwargs) {
  if (argv.size() != 1 || argv[0].kind != Obj::Kind::kArray)
    return Unsupported(name + " of a non-array");
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
Result<Obj> ArgReduction(const std::string& step, const std::vector<Obj>& argv,
                         const Kwargs& kwargs) {
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
  std::optional<ArgKind> kind =
      argv.size() > 1 ? ArgKindOf(name(argv[chunk ? 1 : 0])) : std::nullopt;
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
               !ints((*info->items)[0], &off.origin) ||
               !ints((*info->items)[1], &off.total_shape)) {
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
  if (argv.size() != 2 || !r.have_axis || data.kind != Obj::Kind::kRecords ||
      data.items->size() != 4 || (*data.items)[0].s != "vals" || (*data.items)[2].s != "arg") {
    return Unsupported(step + " arguments");
  }
  ArgPartial partials{(*data.items)[1].array, (*data.items)[3].array};
  // arg_combine always keeps dims; the aggregates take keepdims (default False).
  DN_ASSIGN_OR_RETURN(ArgPartial out,
                      ArgCombine(*kind, partials, r.axes, step == "arg_combine" || r.keepdims));
  if (step == "arg_combine") return records(std::move(out));
  if (step == "nanarg_agg" && AnyNaN(out.vals))
    return Unsupported("an all-NaN slice: Python raises ValueError");
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
  if (nested.kind != Obj::Kind::kSeq || nested.items->empty())
    return Unsupported("concatenate nesting");
  std::vector<Obj> parts;
  for (const Obj& item : *nested.items) {
    DN_ASSIGN_OR_RETURN(Obj p, ConcatenateNested(item, axes, level + 1));
    parts.push_back(std::move(p));
  }
  // Each field of the structured parts on its own: the same values np.concatenate gives.
  const Obj& first = parts[0];
  const size_t nfields = first.kind == Obj::Kind::kRecords ? first.items->size() / 2 : 1;
  auto like_first = [&](const Obj& p, size_t f) {
    return p.kind == first.kind &&
           (p.kind == Obj::Kind::kArray || (p.items->size() == first.items->size() &&
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

}  // namespace dn::native::eval
