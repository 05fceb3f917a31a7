#pragma once

// Reduction calls of the evaluator: numpy reductions with dask's chunk, combine and
// aggregate steps, mean and moment (var/std) steps, arg reductions, and the nested
// concatenation their tree reductions use (shared/docs/native-ops.md §3.2-§3.4).

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.h"
#include "worker/native/eval_value.h"

namespace dn::native::eval {

/// numpy.<name>(x, axis=, keepdims=, dtype=) for sum, prod, max, min, any, all and
/// their nan- and dask chunk_ forms.
Result<Obj> Reduction(const std::string& name, const std::vector<Obj>& argv, const Kwargs& kwargs);
/// mean_chunk / mean_combine / mean_agg (and their nan forms), named by `step`.
Result<Obj> Mean(const std::string& step, const std::vector<Obj>& argv, const Kwargs& kwargs);
/// moment_chunk / moment_combine / moment_agg for order 2.
Result<Obj> Moment(const std::string& step, const std::vector<Obj>& argv, const Kwargs& kwargs);
/// arg_chunk / arg_combine / arg_agg / nanarg_agg.
Result<Obj> ArgReduction(const std::string& step, const std::vector<Obj>& argv,
                         const Kwargs& kwargs);
/// _concatenate2 of `nested` lists along `axes`, from nesting level `level` down.
Result<Obj> ConcatenateNested(const Obj& nested, const std::vector<int>& axes, size_t level);

}  // namespace dn::native::eval
