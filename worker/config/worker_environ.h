#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace dn {

/// Reads one variable of the process environment (getenv), or one dask config value
/// set through it (DaskConfigFromEnv); injected so the rules are tested without
/// touching the real environment.
using EnvReader = std::function<std::optional<std::string>(std::string_view)>;

/// The environment variables a worker process gets before it starts, as stock's Nanny
/// sets them for its worker (distributed/nanny.py, _get_env_variables):
///
/// - `distributed.nanny.pre-spawn-environ`, by default MALLOC_TRIM_THRESHOLD_=65536
///   and OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS of 1: one BLAS
///   thread per worker thread, so a worker's numpy does not fight the other workers
///   and its own threads for the cores;
/// - then `distributed.nanny.environ` (empty by default);
/// - a variable already set in the environment keeps its value; an entry set to None
///   in the config is not set at all;
/// - PYTHONHASHSEED=6640 unless the config sets another non-zero value, so that
///   hash() of a string is the same in every worker (dataframe shuffles rely on it).
///
/// A config value given as a `DASK_DISTRIBUTED__NANNY__...` variable replaces or
/// removes the default entries it names, as dask merges config. Invalid names the
/// variable when it is not a flat mapping (dask would fail to start the worker).
/// Returns the variables to set, in order.
Result<std::vector<std::pair<std::string, std::string>>> WorkerEnviron(const EnvReader& getenv,
                                                                       const EnvReader& config);

}  // namespace dn
