#pragma once

#include <optional>
#include <string>

#include "protocol/pickle/pickle_tree.h"

namespace dn::native {

/// Recognise `dask.array.chunk.argmax` and its siblings in a pickled task.
///
/// dask.array.chunk wraps numpy's argmax, argmin, nanargmax and nanargmin with
/// `keepdims_wrapper`; the wrapped function takes numpy's name and module, so pickle
/// cannot find it by reference and cloudpickle writes it by value:
/// `_make_function(<code keepdims_wrapped_callable>, {'__name__': 'dask.array.chunk',
/// ...}, ...)`, followed by `_function_setstate(f, (state, slotstate))` whose
/// `__closure__` cell holds the wrapped numpy function (the reader keeps that call as
/// an effect of the function node). dask-native-scheduler ships such functions as
/// `pickle.loads(<that cloudpickle>)`, which is looked into as well. Returns
/// "dask.array.chunk.<numpy name>" when `id` is such a function, nullopt for anything
/// else. Nothing is executed.
std::optional<std::string> KeepdimsWrappedName(const PickleTree& t, NodeId id);

}  // namespace dn::native
