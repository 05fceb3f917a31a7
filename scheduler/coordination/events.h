#pragma once

// Event (distributed/event.py's EventExtension): a named flag clients wait on.

#include <optional>
#include <unordered_map>
#include <vector>

#include "scheduler/coordination/coordination_types.h"

namespace dn {

/// An event is kept only while it is set or has waiters (stock's rule against leaks);
/// an unknown name is a clear flag.
///
/// Pure and single-threaded; waits answer at once or through a Wakeup.
class Events {
 public:
  explicit Events(CoordinationOutbox* out) : out_(out) {}

  /// event_wait: True at once if set; otherwise wait for event_set.
  std::optional<CoordinationReply> Wait(const Key& name, WaiterId waiter);
  /// event_set: set the flag and wake every waiter with True.
  void Set(const Key& name);
  /// event_clear: clear the flag.
  void Clear(const Key& name);
  /// event_is_set.
  bool IsSet(const Key& name) const;

  /// A waiter's deadline passed: it answers False.
  bool Timeout(WaiterId waiter);
  /// A waiter's caller went away: forget it.
  bool Cancel(WaiterId waiter);
  size_t size() const { return events_.size(); }

 private:
  struct Event {
    bool set = false;
    std::vector<WaiterId> waiters;
  };

  CoordinationOutbox* out_;
  std::unordered_map<Key, Event, KeyHash> events_;
};

}  // namespace dn
