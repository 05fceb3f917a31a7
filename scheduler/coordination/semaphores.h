#pragma once

// Lock and Semaphore (distributed/semaphore.py's SemaphoreExtension; Lock is a
// Semaphore of one lease): named counters of leases that expire unless refreshed.

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "scheduler/coordination/coordination_types.h"

namespace dn {

/// Every semaphore the scheduler knows, their leases and the acquires waiting for one.
///
/// Pure and single-threaded. Requests answer at once, or wait (nullopt) until a release
/// or an expired lease wakes them through the outbox, or Timeout/Cancel ends them.
/// Waiters are served first come first served: stock wakes all of them on each release
/// and lets the first to run win, of which this is one order.
class Semaphores {
 public:
  explicit Semaphores(CoordinationOutbox* out) : out_(out) {}

  /// semaphore_register: create `name` once. The first register's lease timeout (nullopt:
  /// leases never expire) is kept; a different max_leases is a ValueError.
  CoordinationReply Register(const Key& name, int64_t max_leases,
                             std::optional<double> lease_timeout);
  /// semaphore_acquire: True if `lease_id` holds or gets a lease now; otherwise wait.
  /// An unknown name is a RuntimeError.
  std::optional<CoordinationReply> Acquire(const Key& name, const std::string& lease_id,
                                           WaiterId waiter, double now);
  /// semaphore_release: drop the lease and grant waiters. Unknown names and leases are
  /// ignored (stock logs them).
  void Release(const Key& name, const std::string& lease_id, double now);
  /// semaphore_refresh_leases: each lease was seen at `now`. An unknown id is taken as
  /// held again, as stock does (a lease that timed out comes back; it may overbook).
  void RefreshLeases(const Key& name, const std::vector<std::string>& lease_ids, double now);
  /// semaphore_value: the number of leases held (0 for an unknown name).
  int64_t Value(const Key& name) const;
  /// semaphore_close: forget `name`. Its waiters keep waiting until their timeout, as
  /// stock's do (they wait on an event nothing sets any more).
  void Close(const Key& name);
  /// Release every lease not refreshed within its semaphore's lease timeout.
  void ValidateLeases(double now);

  /// A waiting acquire's deadline passed: it answers False. False if not waiting here.
  bool Timeout(WaiterId waiter);
  /// A waiting acquire's caller went away: forget it. False if not waiting here.
  bool Cancel(WaiterId waiter);
  size_t size() const { return semaphores_.size(); }

 private:
  struct Waiting {
    WaiterId waiter;
    std::string lease_id;
  };
  struct Semaphore {
    int64_t max_leases = 1;
    std::optional<double> lease_timeout;
    std::unordered_map<std::string, double> leases;  ///< lease id -> last seen
    std::deque<Waiting> waiting;
  };
  /// Grant leases to waiters while there is room.
  void Grant(Semaphore& s, double now);

  CoordinationOutbox* out_;
  std::unordered_map<Key, Semaphore, KeyHash> semaphores_;
  /// Acquires whose semaphore was closed while they waited; they end at their timeout.
  std::unordered_set<WaiterId> orphans_;
};

}  // namespace dn
