#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace dn {

/// Parse a byte count as dask.utils.parse_bytes does: "100", "100 MB", "5.4kB", "1kiB",
/// "1e6 kB", "MB" (= 1 MB). Units are case-insensitive: B, k/kB, ki/kiB, M/MB, Mi/MiB,
/// G, T, P and their binary forms. Unknown units and non-numbers are Invalid.
Result<int64_t> ParseBytes(std::string_view text);

/// Resolve `dask worker --memory-limit` as distributed.worker_memory.parse_memory_limit
/// does: "auto" is the machine's limit times min(1, nthreads / total_cores); a number
/// <= 1 is that fraction of the machine's limit; other numbers and byte strings are
/// bytes; 0 means no limit (nullopt). A limit above `system_limit` is clamped to it.
/// Negative values are Invalid (dask would pass them on; a negative limit is a typo).
Result<std::optional<int64_t>> ParseMemoryLimit(std::string_view spec, int64_t nthreads,
                                                int64_t total_cores, int64_t system_limit);

/// The memory this process may use, as distributed.system.memory_limit() computes it:
/// the least of physical memory, the cgroup (v1 or v2) limit and RLIMIT_RSS.
int64_t SystemMemoryLimit();

/// The CPUs this process may use: the CPUs in its affinity mask, capped by the cgroup
/// CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us / cpu.cfs_period_us`, rounded up), as
/// a container's `resources.limits.cpu` sets it. At least 1.
int CpuLimit();

}  // namespace dn
