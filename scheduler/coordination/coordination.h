#pragma once

// The coordination primitives of stock's default scheduler extensions, served natively:
// Lock and Semaphore, MultiLock, Event, Queue and Variable. See README.md.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "scheduler/coordination/coordination_types.h"
#include "scheduler/coordination/events.h"
#include "scheduler/coordination/multi_locks.h"
#include "scheduler/coordination/queues.h"
#include "scheduler/coordination/semaphores.h"
#include "scheduler/coordination/variables.h"

namespace dn {

/// Every coordination primitive of the scheduler, behind the stock message shapes.
///
/// Pure: no I/O, no clock, no threads; owned and called by the scheduler's event loop.
/// Requests go in with the time they arrived; a request answers at once or waits, and
/// a waiting request is answered later by a Wakeup in the outbox (a release, a set, a
/// put), or ends by Timeout (its deadline, which the caller keeps) or Cancel (its comm
/// closed). Changes to the keys the pseudo-clients want leave in the same outbox, in
/// order; the caller applies them to SchedulerState.
class Coordination {
 public:
  explicit Coordination(LocksConfig config = {})
      : config_(config),
        semaphores_(&out_),
        multi_locks_(&out_),
        events_(&out_),
        queues_(&out_),
        variables_(&out_) {}

  /// True for the RPC ops served here (semaphore_*, multi_lock_*, event_*, queue_*,
  /// variable_set/get).
  static bool IsRpc(std::string_view op);
  /// True for the client stream ops served here (queue-future-release, queue_release,
  /// variable-future-received-confirm, variable_delete).
  static bool IsStreamOp(std::string_view op);
  /// Every RPC op IsRpc accepts, for the server's dispatch table.
  static std::span<const std::string_view> RpcOps();
  /// Every client stream op IsStreamOp accepts.
  static std::span<const std::string_view> StreamOps();
  /// True for RPCs that give a Future record back (queue_get, variable_get): the caller
  /// adds the key's state (and exception) to each, as stock does when it answers.
  static bool ReturnsFutures(std::string_view op);
  /// True when the request may carry a Future's `key` that must be known to the
  /// scheduler first (queue_put, variable_set): the caller waits for that, as stock
  /// polls, before handing the request over.
  static bool NeedsKnownKey(std::string_view op);

  /// Handle one RPC; nullopt when it waits for `waiter`'s Wakeup (or Timeout/Cancel).
  /// A malformed request is a TypeError reply.
  std::optional<CoordinationReply> HandleRpc(std::string_view op, const Value& msg, WaiterId waiter,
                                             double now);
  /// Handle one client stream op; `client` is the stream's client (a `client` field in
  /// the message wins, as stock merges the two).
  void HandleStreamOp(std::string_view op, const Value& msg, const std::string& client);

  /// The deadline of `waiter` passed: answer it as stock does when its wait times out.
  void Timeout(WaiterId waiter);
  /// The caller of `waiter` went away: forget it, unanswered.
  void Cancel(WaiterId waiter);
  /// A client disconnected.
  void RemoveClient(const std::string& client);
  /// Release the semaphore leases not refreshed in time (stock: every
  /// `distributed.scheduler.locks.lease-validation-interval`).
  void ValidateLeases(double now) { semaphores_.ValidateLeases(now); }

  /// Move out what was produced so far.
  CoordinationOutbox TakeOutbox() { return std::exchange(out_, CoordinationOutbox{}); }

  const Semaphores& semaphores() const { return semaphores_; }
  const MultiLocks& multi_locks() const { return multi_locks_; }
  const Events& events() const { return events_; }
  const Queues& queues() const { return queues_; }
  const Variables& variables() const { return variables_; }
  const LocksConfig& config() const { return config_; }

 private:
  LocksConfig config_;
  CoordinationOutbox out_;
  Semaphores semaphores_;
  MultiLocks multi_locks_;
  Events events_;
  Queues queues_;
  Variables variables_;
};

}  // namespace dn
