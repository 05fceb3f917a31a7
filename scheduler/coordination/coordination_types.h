#pragma once

// What the coordination primitives (coordination.h) hand back to the server: replies,
// wake-ups of waiting requests, and changes to the keys (pseudo-)clients want.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// Identifies one waiting request. The server chooses it, unique among the waiting.
using WaiterId = uint64_t;

/// The answer to one request: a value, or an exception the client raises as
/// `builtins.<error_type>(error_text)`, as it would from the stock handler.
struct CoordinationReply {
  Value value;
  std::string error_type;  ///< "" when the request succeeded
  std::string error_text;

  bool ok() const { return error_type.empty(); }
  static CoordinationReply Ok(Value v) { return CoordinationReply{std::move(v), "", ""}; }
  static CoordinationReply Error(std::string_view type, std::string_view text) {
    return CoordinationReply{Value(), std::string(type), std::string(text)};
  }
};

/// A request that waited, answered now.
struct Wakeup {
  WaiterId waiter;
  CoordinationReply reply;
};

/// A change to what a client wants, for SchedulerState: queues and variables hold their
/// Futures through the pseudo-clients "queue-<name>" and "variable-<name>", as stock.
struct KeyChange {
  enum class Kind : uint8_t {
    kDesire,        ///< SchedulerState::ClientDesiresKeys(client, keys)
    kRelease,       ///< SchedulerState::ClientReleasesKeys(client, keys)
    kRemoveClient,  ///< SchedulerState::RemoveClient(client)
  };
  Kind kind;
  std::string client;
  std::vector<Key> keys;
};

/// Everything the primitives produced since the last TakeOutbox, in order.
struct CoordinationOutbox {
  std::vector<Wakeup> wakeups;
  std::vector<KeyChange> key_changes;
  bool empty() const { return wakeups.empty() && key_changes.empty(); }
};

/// `distributed.scheduler.locks.*`, as stock's defaults.
struct LocksConfig {
  /// `lease-timeout` ("inf": nullopt, leases never expire). Clients send their own with
  /// semaphore_register; this applies when a register carries none.
  std::optional<double> lease_timeout = 30;
  /// `lease-validation-interval`: how often expired leases are released.
  double lease_validation_interval = 10;
};

/// The seconds of a `timeout` argument: nil waits forever (nullopt); a number; or a
/// duration string as dask's parse_timedelta reads it ("30 s", the default of
/// Variable.set). Negative values count as 0. False when it cannot be read.
bool ReadTimeout(const Value* v, std::optional<double>* seconds);

/// A primitive's name as a Key (str, or a tuple: msgpack turns tuples into lists); false
/// when it is missing or not a key.
bool ReadName(const Value& msg, std::string_view field, Key* name);

/// Python's str() of a name, as stock formats it into messages and pseudo-client ids.
std::string NameStr(const Key& name);

}  // namespace dn
