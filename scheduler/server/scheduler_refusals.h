#pragma once

// The ops dask-native-scheduler refuses on purpose: stock registers a handler for each,
// ours answers it with NotImplementedError naming the feature (an RPC) or logs it once
// and ignores it (a stream op). docs/known-gaps.md ("Refused on purpose") lists each
// with its reason; tests/compat/test_handler_inventory.py checks both against the
// installed stock Scheduler.

#include <span>

#include "protocol/messages/handler_inventory.h"

namespace dn {

/// The refused RPCs.
std::span<const RefusedOp> SchedulerRefusedRpcs();
/// The refused client stream ops.
std::span<const RefusedOp> SchedulerRefusedClientOps();
/// The refused worker stream ops.
std::span<const RefusedOp> SchedulerRefusedWorkerOps();

}  // namespace dn
