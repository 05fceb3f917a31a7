#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "protocol/messages/key.h"
#include "protocol/pickle/pickle_tree.h"
#include "worker/native/ndarray.h"

namespace dn::native {

/// A dependency's value if it is held natively, else nullptr (the task then runs in
/// Python, which has every value).
using DependencyLookup = std::function<const NativeValue*(const Key&)>;

/// Run a task's run_spec natively, if every part of it is recognised.
///
/// `run_spec` is the inert tree the protocol's pickle reader built from the
/// compute-task pickle (nothing is unpickled by Python). The evaluator understands the
/// shapes of dask._task_spec (Task, TaskRef, Alias, DataNode, List, `_execute_subgraph`
/// fusion, `_identity_cast`), functools.partial and toolz Compose, and the dask.array
/// callables of shared/docs/native-ops.md §3: random chunks, numpy reductions with
/// their dask chunk/combine/aggregate steps (mean's dicts included), `_concatenate2`
/// and `finalize`. Anything
/// else — an unknown global, a dtype or a dependency it does not hold — returns
/// NotImplemented before any work is wasted where possible; the worker then runs the
/// original pickle in Python. Other errors (a malformed tree) are Invalid.
Result<NativeValue> EvaluateRunSpec(const PickleTree& run_spec, const DependencyLookup& deps);

}  // namespace dn::native
