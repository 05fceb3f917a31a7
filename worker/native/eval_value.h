#pragma once

// The evaluator's value model (worker/native/evaluator.h): what a run_spec's nodes
// evaluate to, and the callables it recognises. Internal to the evaluator and the
// eval_*.cc files that implement its calls.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "worker/native/ndarray.h"

namespace dn::native::eval {

struct Fn;

/// A value met while evaluating: a literal, a container, an array, a dtype, a class
/// token or a callable. Small and copyable; arrays share their bytes. A numpy
/// structured array (kRecords) is held like a dict, one array per field.
struct Obj {
  enum class Kind : uint8_t {
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kSeq,
    kDict,
    kArray,
    kDType,
    kFn,
    kClass,
    kSlice,
    kRecords
  };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                            ///< kStr text; kClass "module.name"
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

inline const Obj* FindKwarg(const Kwargs& kw, std::string_view name) {
  for (const auto& [k, v] : kw) {
    if (k == name) return &v;
  }
  return nullptr;
}

inline Status Unsupported(std::string what) { return Status::NotImplemented(std::move(what)); }

}  // namespace dn::native::eval
