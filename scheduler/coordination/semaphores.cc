#include "scheduler/coordination/semaphores.h"

#include <algorithm>
#include <vector>

namespace dn {

CoordinationReply Semaphores::Register(const Key& name, int64_t max_leases,
                                       std::optional<double> lease_timeout) {
  auto [it, created] = semaphores_.try_emplace(name);
  if (created) {
    it->second.max_leases = max_leases;
    it->second.lease_timeout = lease_timeout;
  } else if (it->second.max_leases != max_leases) {
    return CoordinationReply::Error("ValueError",
                                    "Inconsistent max leases: " + std::to_string(max_leases) +
                                        ", expected: " + std::to_string(it->second.max_leases));
  }
  return CoordinationReply::Ok(dn::Value());
}

std::optional<CoordinationReply> Semaphores::Acquire(const Key& name, const std::string& lease_id,
                                                     WaiterId waiter, double now) {
  auto it = semaphores_.find(name);
  if (it == semaphores_.end()) {
    return CoordinationReply::Error("RuntimeError",
                                    "Semaphore or Lock `" + NameStr(name) + "` not known.");
  }
  Semaphore& s = it->second;
  // A lease already held is granted again: the client retries acquires on OSError.
  if (s.leases.contains(lease_id) || static_cast<int64_t>(s.leases.size()) < s.max_leases) {
    s.leases[lease_id] = now;
    return CoordinationReply::Ok(dn::Value(true));
  }
  s.waiting.push_back(Waiting{waiter, lease_id});
  return std::nullopt;
}

void Semaphores::Grant(Semaphore& s, double now) {
  while (!s.waiting.empty() && static_cast<int64_t>(s.leases.size()) < s.max_leases) {
    Waiting w = std::move(s.waiting.front());
    s.waiting.pop_front();
    s.leases[w.lease_id] = now;
    out_->wakeups.push_back(Wakeup{w.waiter, CoordinationReply::Ok(dn::Value(true))});
  }
}

void Semaphores::Release(const Key& name, const std::string& lease_id, double now) {
  auto it = semaphores_.find(name);
  if (it == semaphores_.end() || it->second.leases.erase(lease_id) == 0) return;
  Grant(it->second, now);
}

void Semaphores::RefreshLeases(const Key& name, const std::vector<std::string>& lease_ids,
                               double now) {
  auto it = semaphores_.find(name);
  if (it == semaphores_.end()) return;  // stock would make an entry nothing ever removes
  for (const std::string& id : lease_ids) it->second.leases[id] = now;
}

int64_t Semaphores::Value(const Key& name) const {
  auto it = semaphores_.find(name);
  return it == semaphores_.end() ? 0 : static_cast<int64_t>(it->second.leases.size());
}

void Semaphores::Close(const Key& name) {
  auto it = semaphores_.find(name);
  if (it == semaphores_.end()) return;
  for (const Waiting& w : it->second.waiting) orphans_.insert(w.waiter);
  semaphores_.erase(it);
}

void Semaphores::ValidateLeases(double now) {
  for (auto& [name, s] : semaphores_) {
    // Stock skips a falsy lease timeout: none, or 0.
    if (!s.lease_timeout || *s.lease_timeout == 0) continue;
    const double timeout = *s.lease_timeout;
    size_t before = s.leases.size();
    std::erase_if(s.leases, [&](const auto& lease) { return now - lease.second > timeout; });
    if (s.leases.size() != before) Grant(s, now);
  }
}

bool Semaphores::Cancel(WaiterId waiter) {
  if (orphans_.erase(waiter) > 0) return true;
  for (auto& [name, s] : semaphores_) {
    auto w = std::find_if(s.waiting.begin(), s.waiting.end(),
                          [&](const Waiting& x) { return x.waiter == waiter; });
    if (w != s.waiting.end()) {
      s.waiting.erase(w);
      return true;
    }
  }
  return false;
}

bool Semaphores::Timeout(WaiterId waiter) {
  if (!Cancel(waiter)) return false;
  out_->wakeups.push_back(Wakeup{waiter, CoordinationReply::Ok(dn::Value(false))});
  return true;
}

}  // namespace dn
