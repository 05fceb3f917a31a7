#pragma once

// Queue (distributed/queues.py's QueueExtension): named first-in first-out queues of
// msgpack values and Futures, shared by clients.

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "scheduler/coordination/coordination_types.h"

namespace dn {

/// A queue holds records `{"type": "msgpack", "value": data}` and
/// `{"type": "Future", "value": key}`. The pseudo-client "queue-<name>" wants each key
/// from its put until the getter confirms it wants it itself (queue-future-release), or
/// the queue is released while the record is still in it; a key put several times
/// counts each time.
///
/// Pure and single-threaded. Gets wait while empty and puts while full (maxsize > 0),
/// first come first served; a waiting request answers through a Wakeup, or ends through
/// Timeout/Cancel.
class Queues {
 public:
  explicit Queues(CoordinationOutbox* out) : out_(out) {}

  /// How many records a get takes (queue_get's `batch`).
  struct Batch {
    bool all = false;   ///< batch=True: what is there now, without waiting
    int64_t count = 0;  ///< batch=n: n records, waiting for them; 0: one record, unwrapped
  };

  /// queue_create: make the queue, or count one more user of it.
  void Create(const Key& name, int64_t maxsize);
  /// queue_put of `future` (a key the caller has seen known to the scheduler) or of
  /// `data`. KeyError for an unknown queue; waits while the queue is full.
  std::optional<CoordinationReply> Put(const Key& name, const std::optional<Key>& future,
                                       const Value& data, WaiterId waiter);
  /// queue_get. KeyError for an unknown queue; NotImplementedError for a batch count
  /// with a timeout, as stock. Waits while there is not enough.
  std::optional<CoordinationReply> Get(const Key& name, Batch batch, bool has_timeout,
                                       WaiterId waiter);
  /// queue_qsize; KeyError for an unknown queue.
  CoordinationReply Qsize(const Key& name) const;
  /// queue-future-release: `client` got the Future of `key` from `name` and wants it now.
  void FutureRelease(const Key& name, const Key& key, const std::string& client);
  /// queue_release: one user fewer; the last one deletes the queue and lets go of the
  /// keys still in it. Requests waiting on it then wait until their timeout, as stock's.
  void Release(const Key& name);

  /// A waiting get or put reached its deadline: TimeoutError, as stock's wait_for.
  bool Timeout(WaiterId waiter);
  /// A waiting get or put's caller went away: forget it (a batch get's records go back).
  bool Cancel(WaiterId waiter);
  size_t size() const { return queues_.size(); }

 private:
  struct Item {
    Value record;
    std::optional<Key> future;
  };
  struct Getter {
    WaiterId waiter;
    Batch batch;
    std::vector<Item> got;
  };
  struct Putter {
    WaiterId waiter;
    Item item;
  };
  struct Queue {
    int64_t maxsize = 0;
    int64_t users = 0;
    std::deque<Item> items;
    std::deque<Getter> getters;
    std::deque<Putter> putters;
  };
  static Value Records(std::vector<Item>& items);
  /// Hand records to waiting getters and room to waiting putters.
  void Pump(Queue& q);
  /// One hold of "queue-<name>" on `key` fewer; the last lets go of the key.
  void Unref(const Key& name, const Key& key);
  /// Forget the pseudo-client once the queue is gone and holds no key.
  void MaybeRemoveClient(const Key& name);

  CoordinationOutbox* out_;
  std::unordered_map<Key, Queue, KeyHash> queues_;
  /// How often "queue-<name>" holds each key: name -> key -> count.
  std::unordered_map<Key, std::unordered_map<Key, int64_t, KeyHash>, KeyHash> refs_;
  /// Requests that waited on a queue since released; they end at their timeout.
  std::unordered_set<WaiterId> orphans_;
};

}  // namespace dn
