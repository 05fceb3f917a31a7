#pragma once

// The ops dask-native-worker and its nanny refuse on purpose: stock's Worker and Nanny
// register a handler for each. The worker answers a refused RPC with NotImplementedError
// naming the feature; the native nanny has no listener at all. docs/known-gaps.md
// ("Refused on purpose") lists each with its reason; tests/compat/
// test_handler_inventory.py checks both against the installed stock Worker and Nanny.

#include <span>

#include "protocol/messages/handler_inventory.h"

namespace dn {

/// The worker's refused RPCs.
std::span<const RefusedOp> WorkerRefusedRpcs();
/// The worker's refused scheduler stream ops (none today: all of stock's are served).
std::span<const RefusedOp> WorkerRefusedStreamOps();
/// The RPCs of stock's Nanny, none of which the native nanny serves.
std::span<const RefusedOp> NannyRefusedRpcs();

}  // namespace dn
