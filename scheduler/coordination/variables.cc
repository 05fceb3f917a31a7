#include "scheduler/coordination/variables.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace dn {

namespace {

std::string PseudoClient(const Key& name) { return "variable-" + NameStr(name); }

}  // namespace

void Variables::Set(const Key& name, const std::optional<Key>& future, const Value& data) {
  Variable v;
  if (future) {
    v.record = Value(Map{{Value("type"), Value("Future")}, {Value("value"), future->ToValue()}});
    v.future = *future;
    out_->key_changes.push_back(KeyChange{KeyChange::Kind::kDesire, PseudoClient(name), {*future}});
    // Set back to a key still waiting to be let go of: it is the value again. (Stock
    // would let go of it under the new value.)
    if (auto by_name = holds_.find(name); by_name != holds_.end()) {
      if (auto h = by_name->second.find(*future); h != by_name->second.end()) {
        h->second.release = false;
      }
    }
  } else {
    v.record = Value(Map{{Value("type"), Value("msgpack")}, {Value("value"), data}});
  }
  auto old = variables_.find(name);
  if (old != variables_.end() && old->second.future && old->second.future != future) {
    ReleaseWhenConfirmed(name, *old->second.future);
  }
  Variable& stored = variables_[name] = std::move(v);
  if (auto g = getters_.find(name); g != getters_.end()) {
    std::deque<Getter> waiting = std::move(g->second);
    getters_.erase(g);
    for (const Getter& w : waiting) {
      out_->wakeups.push_back(Wakeup{w.waiter, Record(name, stored, w.client)});
    }
  }
  Settle(name);
}

CoordinationReply Variables::Record(const Key& name, const Variable& v, const std::string& client) {
  if (!v.future) return CoordinationReply::Ok(v.record);
  char token[40];
  std::snprintf(token, sizeof token, "%032llx", static_cast<unsigned long long>(++next_token_));
  holds_[name][*v.future].tokens.emplace(token, client);
  Map record = *v.record.map();
  record.push_back({Value("token"), Value(std::string(token))});
  return CoordinationReply::Ok(Value(std::move(record)));
}

std::optional<CoordinationReply> Variables::Get(const Key& name, const std::string& client,
                                                WaiterId waiter) {
  auto it = variables_.find(name);
  if (it != variables_.end()) return Record(name, it->second, client);
  getters_[name].push_back(Getter{waiter, client});
  return std::nullopt;
}

void Variables::ReleaseWhenConfirmed(const Key& name, const Key& key) {
  holds_[name][key].release = true;
  Settle(name);
}

void Variables::Settle(const Key& name) {
  auto by_name = holds_.find(name);
  if (by_name != holds_.end()) {
    std::erase_if(by_name->second, [&](const auto& entry) {
      const auto& [key, hold] = entry;
      if (!hold.tokens.empty()) return false;
      if (hold.release) {
        out_->key_changes.push_back(
            KeyChange{KeyChange::Kind::kRelease, PseudoClient(name), {key}});
      }
      return true;
    });
    if (by_name->second.empty()) holds_.erase(by_name);
  }
  // Deleted, and nothing left to let go of: forget the pseudo-client, as stock's
  // remove_client (after the release it awaited).
  if (!variables_.contains(name) && !holds_.contains(name)) {
    out_->key_changes.push_back(KeyChange{KeyChange::Kind::kRemoveClient, PseudoClient(name), {}});
  }
}

void Variables::FutureReceivedConfirm(const Key& name, const Key& key, const std::string& token,
                                      const std::string& client) {
  out_->key_changes.push_back(KeyChange{KeyChange::Kind::kDesire, client, {key}});
  auto by_name = holds_.find(name);
  if (by_name == holds_.end()) return;
  auto h = by_name->second.find(key);
  if (h == by_name->second.end()) return;
  h->second.tokens.erase(token);
  Settle(name);
}

void Variables::Delete(const Key& name) {
  auto it = variables_.find(name);
  if (it == variables_.end()) return;
  std::optional<Key> future = it->second.future;
  variables_.erase(it);
  if (future) holds_[name][*future].release = true;
  Settle(name);
}

void Variables::RemoveClient(const std::string& client) {
  std::vector<Key> touched;
  for (auto& [name, by_key] : holds_) {
    for (auto& [key, hold] : by_key) {
      if (std::erase_if(hold.tokens, [&](const auto& t) { return t.second == client; }) > 0) {
        touched.push_back(name);
      }
    }
  }
  for (const Key& name : touched) Settle(name);
}

bool Variables::Cancel(WaiterId waiter) {
  for (auto it = getters_.begin(); it != getters_.end(); ++it) {
    auto g = std::find_if(it->second.begin(), it->second.end(),
                          [&](const Getter& x) { return x.waiter == waiter; });
    if (g == it->second.end()) continue;
    it->second.erase(g);
    if (it->second.empty()) getters_.erase(it);
    return true;
  }
  return false;
}

bool Variables::Timeout(WaiterId waiter) {
  if (!Cancel(waiter)) return false;
  out_->wakeups.push_back(Wakeup{waiter, CoordinationReply::Error("TimeoutError", "")});
  return true;
}

}  // namespace dn
