#include "scheduler/coordination/events.h"

#include <algorithm>

namespace dn {

std::optional<CoordinationReply> Events::Wait(const Key& name, WaiterId waiter) {
  Event& e = events_[name];
  if (e.set) return CoordinationReply::Ok(Value(true));
  e.waiters.push_back(waiter);
  return std::nullopt;
}

void Events::Set(const Key& name) {
  Event& e = events_[name];
  e.set = true;
  for (WaiterId w : e.waiters) out_->wakeups.push_back(Wakeup{w, CoordinationReply::Ok(true)});
  e.waiters.clear();
}

void Events::Clear(const Key& name) {
  auto it = events_.find(name);
  if (it == events_.end()) return;
  if (it->second.waiters.empty()) {
    events_.erase(it);
  } else {
    it->second.set = false;
  }
}

bool Events::IsSet(const Key& name) const {
  auto it = events_.find(name);
  return it != events_.end() && it->second.set;
}

bool Events::Cancel(WaiterId waiter) {
  for (auto it = events_.begin(); it != events_.end(); ++it) {
    auto w = std::find(it->second.waiters.begin(), it->second.waiters.end(), waiter);
    if (w == it->second.waiters.end()) continue;
    it->second.waiters.erase(w);
    if (it->second.waiters.empty() && !it->second.set) events_.erase(it);
    return true;
  }
  return false;
}

bool Events::Timeout(WaiterId waiter) {
  if (!Cancel(waiter)) return false;
  out_->wakeups.push_back(Wakeup{waiter, CoordinationReply::Ok(Value(false))});
  return true;
}

}  // namespace dn
