#include "scheduler/coordination/multi_locks.h"

#include <algorithm>

namespace dn {

std::optional<CoordinationReply> MultiLocks::Acquire(const std::vector<Key>& locks,
                                                     const std::string& id, int64_t num_locks,
                                                     WaiterId waiter) {
  if (requests_.contains(id)) return CoordinationReply::Error("AssertionError", "");
  // Duplicate names would join one queue twice; stock keeps them in a set.
  std::vector<Key> unique;
  for (const Key& k : locks) {
    if (std::find(unique.begin(), unique.end(), k) == unique.end()) unique.push_back(k);
  }
  if (num_locks <= 0 || num_locks > static_cast<int64_t>(unique.size())) {
    return CoordinationReply::Error("AssertionError", "");  // as stock's assert
  }
  // Shortest queue first (a stable sort, as Python's sorted).
  std::stable_sort(unique.begin(), unique.end(), [this](const Key& a, const Key& b) {
    auto qa = queues_.find(a), qb = queues_.find(b);
    size_t la = qa == queues_.end() ? 0 : qa->second.size();
    size_t lb = qb == queues_.end() ? 0 : qb->second.size();
    return la < lb;
  });
  Request& r = requests_[id];
  r.left = num_locks;
  for (const Key& lock : unique) {
    std::deque<std::string>& q = queues_[lock];
    q.push_back(id);
    r.locks.push_back(lock);
    if (q.size() == 1 && --r.left == 0) {
      return CoordinationReply::Ok(Value(true));  // got enough without queueing further
    }
  }
  r.waiter = waiter;
  waiting_[waiter] = id;
  return std::nullopt;
}

void MultiLocks::Leave(const std::string& id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  std::vector<Key> locks = std::move(it->second.locks);
  if (it->second.waiter) waiting_.erase(*it->second.waiter);
  requests_.erase(it);
  for (const Key& lock : locks) {
    auto q = queues_.find(lock);
    if (q == queues_.end()) continue;
    const bool held = !q->second.empty() && q->second.front() == id;
    std::erase(q->second, id);
    if (held && !q->second.empty()) {
      // The lock passes to the next in line, which may now hold enough.
      auto next = requests_.find(q->second.front());
      if (next != requests_.end() && next->second.left > 0 && --next->second.left == 0 &&
          next->second.waiter) {
        WaiterId w = *next->second.waiter;
        next->second.waiter.reset();
        waiting_.erase(w);
        out_->wakeups.push_back(Wakeup{w, CoordinationReply::Ok(Value(true))});
      }
    }
    if (q->second.empty()) queues_.erase(q);
  }
}

CoordinationReply MultiLocks::Release(const std::string& id) {
  if (!requests_.contains(id)) return CoordinationReply::Error("KeyError", id);
  Leave(id);
  return CoordinationReply::Ok(Value());
}

bool MultiLocks::Cancel(WaiterId waiter) {
  auto it = waiting_.find(waiter);
  if (it == waiting_.end()) return false;
  std::string id = it->second;
  Leave(id);
  return true;
}

bool MultiLocks::Timeout(WaiterId waiter) {
  if (!Cancel(waiter)) return false;
  out_->wakeups.push_back(Wakeup{waiter, CoordinationReply::Ok(Value(false))});
  return true;
}

}  // namespace dn
