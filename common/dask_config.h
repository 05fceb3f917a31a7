#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dn {

/// The value of a dask config key set through the environment, as dask.config reads
/// `DASK_*` variables: `DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=10` sets
/// `distributed.scheduler.allowed-failures`. `__` separates levels, case does not
/// matter, and `_` and `-` are the same. Quotes around a string value are removed.
/// nullopt when no variable sets it. Config files (dask's YAML) are not read.
///
/// Ours, not a library: dask's rules are a few lines, and the binaries must read the
/// same variables as stock without starting Python.
std::optional<std::string> DaskConfigFromEnv(std::string_view key);

/// DaskConfigFromEnv with `environ` given as NAME=VALUE strings ending in nullptr (tests).
std::optional<std::string> DaskConfigFromEnviron(std::string_view key, const char* const* environ);

/// A duration as dask's parse_timedelta reads it: "90", "30s", "500ms", "5m",
/// "5 minutes", "1h", "2d". False on anything else, or a negative value.
bool ParseDuration(std::string_view text, double* seconds);

/// An integer config value ("10"); false on anything else.
bool ParseConfigInt(std::string_view text, int64_t* value);

/// One entry of a config mapping: its key and its value as Python's str() of it would
/// print, or nullopt for None (dask's way to remove a default entry).
using ConfigEntry = std::pair<std::string, std::optional<std::string>>;

/// A flat mapping given as a config value, as dask reads one from a `DASK_*` variable
/// (ast.literal_eval) or a YAML flow mapping: `{"OMP_NUM_THREADS": 4, 'X': None}`.
/// Keys are quoted or bare words; values are quoted strings, numbers, True/False
/// (true/false) or None (null, ~). Nested containers are refused. False on anything
/// it does not read.
///
/// Ours: the binaries read it without starting Python, and a flat mapping of scalars
/// is all the keys that take one need (environment variables).
bool ParseConfigMapping(std::string_view text, std::vector<ConfigEntry>* out);

}  // namespace dn
