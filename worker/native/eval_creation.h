#pragma once

// Chunk creation calls of the evaluator: dask's ones/zeros/full, arange and random
// chunks (shared/docs/native-ops.md §3.1, §5).

#include <string>
#include <vector>

#include "common/result.h"
#include "worker/native/eval_value.h"

namespace dn::native::eval {

/// _broadcast_trick_inner(numpy.<name>_like, shape, ...) for name ones, zeros or full.
Result<Obj> BroadcastFill(const std::string& name, const std::vector<Obj>& argv,
                          const Kwargs& kwargs);
/// dask.array.chunk.arange(start, stop, step, length, dtype).
Result<Obj> Arange(const std::vector<Obj>& argv, const Kwargs& kwargs);
/// dask.array.random._apply_random (RandomState).
Result<Obj> ApplyRandom(const std::vector<Obj>& argv);
/// dask.array.random._apply_random_func (Generator with PCG64).
Result<Obj> ApplyRandomFunc(const std::vector<Obj>& argv);

}  // namespace dn::native::eval
