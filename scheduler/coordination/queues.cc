#include "scheduler/coordination/queues.h"

#include <algorithm>

namespace dn {

namespace {

std::string PseudoClient(const Key& name) { return "queue-" + NameStr(name); }

CoordinationReply UnknownQueue(const Key& name) {
  return CoordinationReply::Error("KeyError", NameStr(name));
}

}  // namespace

void Queues::Create(const Key& name, int64_t maxsize) {
  auto [it, created] = queues_.try_emplace(name);
  if (created) it->second.maxsize = maxsize;
  it->second.users += 1;
}

std::optional<CoordinationReply> Queues::Put(const Key& name, const std::optional<Key>& future,
                                             const Value& data, WaiterId waiter) {
  auto it = queues_.find(name);
  if (it == queues_.end()) return UnknownQueue(name);
  Item item;
  if (future) {
    item.record = Value(Map{{Value("type"), Value("Future")}, {Value("value"), future->ToValue()}});
    item.future = *future;
    refs_[name][*future] += 1;
    out_->key_changes.push_back(KeyChange{KeyChange::Kind::kDesire, PseudoClient(name), {*future}});
  } else {
    item.record = Value(Map{{Value("type"), Value("msgpack")}, {Value("value"), data}});
  }
  Queue& q = it->second;
  if (q.maxsize > 0 && static_cast<int64_t>(q.items.size()) >= q.maxsize) {
    q.putters.push_back(Putter{waiter, std::move(item)});
    return std::nullopt;
  }
  q.items.push_back(std::move(item));
  Pump(q);
  return CoordinationReply::Ok(Value());
}

Value Queues::Records(std::vector<Item>& items) {
  Array out;
  for (Item& i : items) out.push_back(std::move(i.record));
  return Value(std::move(out));
}

std::optional<CoordinationReply> Queues::Get(const Key& name, Batch batch, bool has_timeout,
                                             WaiterId waiter) {
  auto it = queues_.find(name);
  if (it == queues_.end()) return UnknownQueue(name);
  Queue& q = it->second;
  if (!batch.all && batch.count != 0 && has_timeout) {
    return CoordinationReply::Error("NotImplementedError",
                                    "Dask queues don't support simultaneous use of integer batch "
                                    "sizes and timeouts");
  }
  const size_t want = batch.all ? q.items.size() : std::max<int64_t>(batch.count, 1);
  std::vector<Item> got;
  if (batch.all || batch.count >= 0) {
    while (got.size() < want && !q.items.empty()) {
      got.push_back(std::move(q.items.front()));
      q.items.pop_front();
    }
  }
  if (batch.all || batch.count < 0 || got.size() == want) {
    Pump(q);  // room for waiting putters
    if (batch.all || batch.count != 0) return CoordinationReply::Ok(Records(got));
    return CoordinationReply::Ok(std::move(got.front().record));
  }
  q.getters.push_back(Getter{waiter, batch, std::move(got)});
  return std::nullopt;
}

void Queues::Pump(Queue& q) {
  for (;;) {
    while (!q.items.empty() && !q.getters.empty()) {
      Getter& g = q.getters.front();
      g.got.push_back(std::move(q.items.front()));
      q.items.pop_front();
      if (static_cast<int64_t>(g.got.size()) < std::max<int64_t>(g.batch.count, 1)) continue;
      Value reply = g.batch.count == 0 ? std::move(g.got.front().record) : Records(g.got);
      out_->wakeups.push_back(Wakeup{g.waiter, CoordinationReply::Ok(std::move(reply))});
      q.getters.pop_front();
    }
    bool admitted = false;
    while (!q.putters.empty() &&
           (q.maxsize <= 0 || static_cast<int64_t>(q.items.size()) < q.maxsize)) {
      q.items.push_back(std::move(q.putters.front().item));
      out_->wakeups.push_back(Wakeup{q.putters.front().waiter, CoordinationReply::Ok(Value())});
      q.putters.pop_front();
      admitted = true;
    }
    if (!admitted || q.getters.empty()) return;
  }
}

CoordinationReply Queues::Qsize(const Key& name) const {
  auto it = queues_.find(name);
  if (it == queues_.end()) return UnknownQueue(name);
  return CoordinationReply::Ok(Value(static_cast<int64_t>(it->second.items.size())));
}

void Queues::Unref(const Key& name, const Key& key) {
  auto by_name = refs_.find(name);
  if (by_name == refs_.end()) return;
  auto ref = by_name->second.find(key);
  if (ref == by_name->second.end()) return;
  if (--ref->second > 0) return;
  by_name->second.erase(ref);
  if (by_name->second.empty()) refs_.erase(by_name);
  out_->key_changes.push_back(KeyChange{KeyChange::Kind::kRelease, PseudoClient(name), {key}});
}

void Queues::MaybeRemoveClient(const Key& name) {
  if (queues_.contains(name) || refs_.contains(name)) return;
  out_->key_changes.push_back(KeyChange{KeyChange::Kind::kRemoveClient, PseudoClient(name), {}});
}

void Queues::FutureRelease(const Key& name, const Key& key, const std::string& client) {
  // The getter wants the key before the queue lets go of it, so it stays alive.
  out_->key_changes.push_back(KeyChange{KeyChange::Kind::kDesire, client, {key}});
  Unref(name, key);
  MaybeRemoveClient(name);
}

void Queues::Release(const Key& name) {
  auto it = queues_.find(name);
  if (it == queues_.end() || --it->second.users > 0) return;
  Queue q = std::move(it->second);
  queues_.erase(it);
  // Keys still queued, held by waiting putters, or taken by a batch get still waiting
  // are let go of; those waiters stay until their timeout, as stock's would.
  std::vector<Item*> held;
  for (Item& i : q.items) held.push_back(&i);
  for (Putter& p : q.putters) {
    held.push_back(&p.item);
    orphans_.insert(p.waiter);
  }
  for (Getter& g : q.getters) {
    for (Item& i : g.got) held.push_back(&i);
    orphans_.insert(g.waiter);
  }
  for (Item* i : held) {
    if (i->future) Unref(name, *i->future);
  }
  MaybeRemoveClient(name);
}

bool Queues::Cancel(WaiterId waiter) {
  if (orphans_.erase(waiter) > 0) return true;
  for (auto& [name, q] : queues_) {
    auto g = std::find_if(q.getters.begin(), q.getters.end(),
                          [&](const Getter& x) { return x.waiter == waiter; });
    if (g != q.getters.end()) {
      std::vector<Item> got = std::move(g->got);
      q.getters.erase(g);
      for (auto i = got.rbegin(); i != got.rend(); ++i) q.items.push_front(std::move(*i));
      Pump(q);
      return true;
    }
    auto p = std::find_if(q.putters.begin(), q.putters.end(),
                          [&](const Putter& x) { return x.waiter == waiter; });
    if (p != q.putters.end()) {
      // Stock leaves the key wanted by the queue when a put times out; it is not in the
      // queue, so nothing would ever let go of it.
      std::optional<Key> future = p->item.future;
      Key queue_name = name;
      q.putters.erase(p);
      if (future) Unref(queue_name, *future);
      return true;
    }
  }
  return false;
}

bool Queues::Timeout(WaiterId waiter) {
  if (!Cancel(waiter)) return false;
  out_->wakeups.push_back(Wakeup{waiter, CoordinationReply::Error("TimeoutError", "")});
  return true;
}

}  // namespace dn
