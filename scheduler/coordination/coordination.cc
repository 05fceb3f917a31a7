#include "scheduler/coordination/coordination.h"

#include <algorithm>
#include <array>

#include "common/dask_config.h"

namespace dn {

bool ReadTimeout(const Value* v, std::optional<double>* seconds) {
  seconds->reset();
  if (v == nullptr || v->is_nil()) return true;
  double s = 0;
  if (const int64_t* i = v->get_if<int64_t>()) {
    s = static_cast<double>(*i);
  } else if (const uint64_t* u = v->get_if<uint64_t>()) {
    s = static_cast<double>(*u);
  } else if (const double* d = v->get_if<double>()) {
    s = *d;
  } else if (const std::string* text = v->str()) {
    if (!ParseDuration(*text, &s)) return false;
  } else {
    return false;
  }
  *seconds = std::max(0.0, s);
  return true;
}

bool ReadName(const Value& msg, std::string_view field, Key* name) {
  const Value* v = msg.Find(field);
  if (v == nullptr) return false;
  Result<Key> k = Key::FromValue(*v);
  if (!k.ok()) return false;
  *name = *k;
  return true;
}

std::string NameStr(const Key& name) { return name.str() ? *name.str() : name.Repr(); }

namespace {

constexpr std::array<std::string_view, 18> kRpcs = {
    "semaphore_register", "semaphore_acquire", "semaphore_release",  "semaphore_refresh_leases",
    "semaphore_value",    "semaphore_close",   "multi_lock_acquire", "multi_lock_release",
    "event_wait",         "event_set",         "event_clear",        "event_is_set",
    "queue_create",       "queue_put",         "queue_get",          "queue_qsize",
    "variable_set",       "variable_get"};
constexpr std::array<std::string_view, 4> kStreamOps = {
    "queue-future-release", "queue_release", "variable-future-received-confirm", "variable_delete"};

CoordinationReply BadRequest(std::string_view op) {
  return CoordinationReply::Error("TypeError", "malformed " + std::string(op) + " request");
}

const std::string* Str(const Value& msg, std::string_view field) {
  const Value* v = msg.Find(field);
  return v ? v->str() : nullptr;
}

bool Int(const Value& msg, std::string_view field, int64_t* out) {
  const Value* v = msg.Find(field);
  if (v == nullptr) return false;
  if (const int64_t* i = v->get_if<int64_t>()) {
    *out = *i;
    return true;
  }
  if (const bool* b = v->get_if<bool>()) {
    *out = *b ? 1 : 0;
    return true;
  }
  return false;
}

/// The Future a put or set carries: its `key` field when present and not nil.
bool FutureKey(const Value& msg, std::optional<Key>* future) {
  future->reset();
  const Value* v = msg.Find("key");
  if (v == nullptr || v->is_nil()) return true;
  Result<Key> k = Key::FromValue(*v);
  if (!k.ok()) return false;
  *future = *k;
  return true;
}

}  // namespace

bool Coordination::IsRpc(std::string_view op) {
  return std::find(kRpcs.begin(), kRpcs.end(), op) != kRpcs.end();
}

bool Coordination::IsStreamOp(std::string_view op) {
  return std::find(kStreamOps.begin(), kStreamOps.end(), op) != kStreamOps.end();
}

std::span<const std::string_view> Coordination::RpcOps() { return kRpcs; }

std::span<const std::string_view> Coordination::StreamOps() { return kStreamOps; }

bool Coordination::ReturnsFutures(std::string_view op) {
  return op == "queue_get" || op == "variable_get";
}

bool Coordination::NeedsKnownKey(std::string_view op) {
  return op == "queue_put" || op == "variable_set";
}

std::optional<CoordinationReply> Coordination::HandleRpc(std::string_view op, const Value& msg,
                                                         WaiterId waiter, double now) {
  using R = CoordinationReply;
  std::optional<double> timeout;
  if (!ReadTimeout(msg.Find("timeout"), &timeout)) return BadRequest(op);
  if (op == "multi_lock_acquire" || op == "multi_lock_release") {
    const std::string* id = Str(msg, "id");
    if (id == nullptr) return BadRequest(op);
    if (op == "multi_lock_release") return multi_locks_.Release(*id);
    const Value* locks = msg.Find("locks");
    std::vector<Key> names = KeysFromValue(locks);
    int64_t num_locks = static_cast<int64_t>(names.size());
    if (const Value* n = msg.Find("num_locks"); n != nullptr && !n->is_nil()) {
      if (!Int(msg, "num_locks", &num_locks)) return BadRequest(op);
    }
    return multi_locks_.Acquire(names, *id, num_locks, waiter);
  }
  Key name;
  if (!ReadName(msg, "name", &name)) return BadRequest(op);
  if (op == "semaphore_register") {
    int64_t max_leases = 0;
    if (!Int(msg, "max_leases", &max_leases)) return BadRequest(op);
    std::optional<double> lease_timeout = config_.lease_timeout;
    if (const Value* lt = msg.Find("lease_timeout")) {
      if (!ReadTimeout(lt, &lease_timeout)) return BadRequest(op);
    }
    return semaphores_.Register(name, max_leases, lease_timeout);
  }
  if (op == "semaphore_acquire") {
    const std::string* lease_id = Str(msg, "lease_id");
    if (lease_id == nullptr) return BadRequest(op);
    return semaphores_.Acquire(name, *lease_id, waiter, now);
  }
  if (op == "semaphore_release") {
    if (const std::string* lease_id = Str(msg, "lease_id")) {
      semaphores_.Release(name, *lease_id, now);
    }
    return R::Ok(Value());
  }
  if (op == "semaphore_refresh_leases") {
    std::vector<std::string> ids;
    if (const Value* v = msg.Find("lease_ids"); v != nullptr && v->array() != nullptr) {
      for (const Value& id : *v->array()) {
        if (const std::string* s = id.str()) ids.push_back(*s);
      }
    }
    semaphores_.RefreshLeases(name, ids, now);
    return R::Ok(Value());
  }
  if (op == "semaphore_value") return R::Ok(Value(semaphores_.Value(name)));
  if (op == "semaphore_close") {
    semaphores_.Close(name);
    return R::Ok(Value());
  }
  if (op == "event_wait") return events_.Wait(name, waiter);
  if (op == "event_set") {
    events_.Set(name);
    return R::Ok(Value());
  }
  if (op == "event_clear") {
    events_.Clear(name);
    return R::Ok(Value());
  }
  if (op == "event_is_set") return R::Ok(Value(events_.IsSet(name)));
  if (op == "queue_create") {
    int64_t maxsize = 0;
    if (const Value* m = msg.Find("maxsize"); m != nullptr && !m->is_nil()) {
      if (!Int(msg, "maxsize", &maxsize)) return BadRequest(op);
    }
    queues_.Create(name, maxsize);
    return R::Ok(Value());
  }
  if (op == "queue_put" || op == "variable_set") {
    std::optional<Key> future;
    if (!FutureKey(msg, &future)) return BadRequest(op);
    const Value* data = msg.Find("data");
    const Value none;
    if (op == "queue_put") return queues_.Put(name, future, data ? *data : none, waiter);
    variables_.Set(name, future, data ? *data : none);
    return R::Ok(Value());
  }
  if (op == "queue_get") {
    Queues::Batch batch;
    if (const Value* b = msg.Find("batch"); b != nullptr && !b->is_nil()) {
      if (const bool* flag = b->get_if<bool>()) {
        batch.all = *flag;
      } else if (!Int(msg, "batch", &batch.count)) {
        return BadRequest(op);
      }
    }
    return queues_.Get(name, batch, timeout.has_value(), waiter);
  }
  if (op == "queue_qsize") return queues_.Qsize(name);
  if (op == "variable_get") {
    const std::string* client = Str(msg, "client");
    return variables_.Get(name, client ? *client : std::string(), waiter);
  }
  return R::Error("ValueError", "not a coordination op: " + std::string(op));
}

void Coordination::HandleStreamOp(std::string_view op, const Value& msg,
                                  const std::string& stream_client) {
  Key name;
  if (!ReadName(msg, "name", &name)) return;
  const std::string* c = Str(msg, "client");
  const std::string& client = c ? *c : stream_client;
  if (op == "queue_release") {
    queues_.Release(name);
  } else if (op == "variable_delete") {
    variables_.Delete(name);
  } else if (op == "queue-future-release" || op == "variable-future-received-confirm") {
    Key key;
    if (!ReadName(msg, "key", &key)) return;
    if (op == "queue-future-release") {
      queues_.FutureRelease(name, key, client);
    } else if (const std::string* token = Str(msg, "token")) {
      variables_.FutureReceivedConfirm(name, key, *token, client);
    }
  }
}

void Coordination::Timeout(WaiterId waiter) {
  (void)(semaphores_.Timeout(waiter) || multi_locks_.Timeout(waiter) || events_.Timeout(waiter) ||
         queues_.Timeout(waiter) || variables_.Timeout(waiter));
}

void Coordination::Cancel(WaiterId waiter) {
  (void)(semaphores_.Cancel(waiter) || multi_locks_.Cancel(waiter) || events_.Cancel(waiter) ||
         queues_.Cancel(waiter) || variables_.Cancel(waiter));
}

void Coordination::RemoveClient(const std::string& client) { variables_.RemoveClient(client); }

}  // namespace dn
