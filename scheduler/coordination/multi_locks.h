#pragma once

// MultiLock (distributed/multi_lock.py's MultiLockExtension): one request takes several
// named locks, or some number of them, at once.

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "scheduler/coordination/coordination_types.h"

namespace dn {

/// Each lock name has a first-come queue of requester ids; the id at the front holds
/// the lock. A request joins the queues of its locks, shortest queue first, and is
/// granted once it holds `num_locks` of them (it leaves the queues it had not joined
/// yet when that happens at once). A waiting request that times out leaves every
/// queue; a release leaves them too, passing each lock held to the next in line.
///
/// Pure and single-threaded; requests answer at once or wait (nullopt) for a Wakeup.
class MultiLocks {
 public:
  explicit MultiLocks(CoordinationOutbox* out) : out_(out) {}

  /// multi_lock_acquire. An id already requesting is an AssertionError (stock asserts);
  /// num_locks must be in 1..len(locks) (an AssertionError otherwise, too).
  std::optional<CoordinationReply> Acquire(const std::vector<Key>& locks, const std::string& id,
                                           int64_t num_locks, WaiterId waiter);
  /// multi_lock_release: leave every queue of `id`; KeyError if it requests nothing.
  CoordinationReply Release(const std::string& id);

  /// A waiting request's deadline passed: it leaves its queues and answers False.
  bool Timeout(WaiterId waiter);
  /// A waiting request's caller went away: it leaves its queues without an answer.
  bool Cancel(WaiterId waiter);
  size_t num_locks() const { return queues_.size(); }

 private:
  struct Request {
    std::vector<Key> locks;  ///< the locks whose queues it is in
    int64_t left = 0;        ///< locks it still needs to hold
    std::optional<WaiterId> waiter;
  };
  /// Leave the queues of `id` and forget it, handing locks on (multi_lock.py's
  /// _retain_locks).
  void Leave(const std::string& id);

  CoordinationOutbox* out_;
  std::unordered_map<Key, std::deque<std::string>, KeyHash> queues_;
  std::unordered_map<std::string, Request> requests_;
  std::unordered_map<WaiterId, std::string> waiting_;  ///< waiter -> request id
};

}  // namespace dn
