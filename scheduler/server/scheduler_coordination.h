#pragma once

// The coordination primitives on the wire: scheduler/coordination/ holds the logic, this
// holds the waiting (timers, comms that close), the lease validation that runs every
// `lease-validation-interval`, and what the primitives change in SchedulerState.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "protocol/comm/connection.h"
#include "scheduler/coordination/coordination.h"
#include "scheduler/state/scheduler_state.h"

namespace dn {

/// `distributed.scheduler.locks.lease-timeout` and `lease-validation-interval` from the
/// `DASK_*` environment, as stock reads its config; Invalid for an unreadable value.
Status ReadLocksConfig(LocksConfig* config);

/// Serves the coordination RPCs and client stream ops for SchedulerServer.
///
/// Runs on the scheduler's event loop, which owns `state`; `flush` sends what the state
/// machine queued (SchedulerServer::Flush). A request that must wait suspends its
/// comm's coroutine until a Wakeup, its timeout, or the comm closing (then it is
/// forgotten, so nothing waits for a caller that left).
class CoordinationService {
 public:
  CoordinationService(asio::io_context& io, SchedulerState& state, std::function<void()> flush,
                      LocksConfig config);

  /// Start the periodic lease validation.
  void Start();
  /// Stop it (the scheduler is closing).
  void Stop() { stopping_ = true; }

  /// Answer one coordination RPC (Coordination::IsRpc), waiting as long as it must.
  awaitable<Value> HandleRpc(std::shared_ptr<Connection> conn, const Value& msg);
  /// Handle one coordination op of `client`'s stream (Coordination::IsStreamOp).
  void HandleClientOp(const std::string& client, const Value& msg);
  /// `client`'s stream closed.
  void RemoveClient(const std::string& client);

 private:
  struct Pending {
    std::shared_ptr<asio::steady_timer> wake;
    std::optional<CoordinationReply> reply;
    bool cancelled = false;
  };
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;

  /// Wait until `key` is known to the scheduler (stock polls every 10 ms); false at the
  /// deadline or when the comm closed.
  awaitable<bool> WaitForKey(const Key& key, Deadline deadline, const Connection& conn);
  /// Wait for the answer to `waiter`.
  awaitable<std::optional<CoordinationReply>> Wait(std::shared_ptr<Connection> conn,
                                                   WaiterId waiter, Deadline deadline);
  /// Deliver wake-ups and apply key changes from the primitives' outbox.
  void Apply(std::string_view cause);
  /// The reply message: a typed error, or the value with each Future record's state.
  Value Encode(std::string_view op, CoordinationReply reply) const;
  void AddFutureState(Value* record) const;
  awaitable<void> ValidateLeasesLoop();

  asio::io_context& io_;
  SchedulerState& state_;
  std::function<void()> flush_;
  Coordination coordination_;
  std::unordered_map<WaiterId, Pending> pending_;
  WaiterId next_waiter_ = 1;
  bool stopping_ = false;
};

}  // namespace dn
