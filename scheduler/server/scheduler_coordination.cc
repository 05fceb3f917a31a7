// CoordinationService: Lock, Semaphore, MultiLock, Event, Queue and Variable requests
// handed to the pure Coordination, and its answers handed back.
#include "scheduler/server/scheduler_coordination.h"

#include <cstdio>

#include "common/clock.h"
#include "common/dask_config.h"
#include "protocol/messages/message_codec.h"

namespace dn {

Status ReadLocksConfig(LocksConfig* config) {
  if (auto v = DaskConfigFromEnv("distributed.scheduler.locks.lease-timeout")) {
    double secs = 0;
    if (*v == "inf") {
      config->lease_timeout.reset();
    } else if (ParseDuration(*v, &secs)) {
      config->lease_timeout = secs;
    } else {
      return Status::Invalid("bad distributed.scheduler.locks.lease-timeout '" + *v + "'");
    }
  }
  if (auto v = DaskConfigFromEnv("distributed.scheduler.locks.lease-validation-interval")) {
    double secs = 0;
    if (!ParseDuration(*v, &secs) || secs <= 0) {
      return Status::Invalid("bad distributed.scheduler.locks.lease-validation-interval '" + *v +
                             "'");
    }
    config->lease_validation_interval = secs;
  }
  return Status::OK();
}

CoordinationService::CoordinationService(asio::io_context& io, SchedulerState& state,
                                         std::function<void()> flush, LocksConfig config)
    : io_(io), state_(state), flush_(std::move(flush)), coordination_(config) {}

void CoordinationService::Start() { asio::co_spawn(io_, ValidateLeasesLoop(), asio::detached); }

awaitable<void> CoordinationService::ValidateLeasesLoop() {
  asio::steady_timer timer(io_);
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(coordination_.config().lease_validation_interval));
  while (!stopping_) {
    timer.expires_after(interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    coordination_.ValidateLeases(WallTime());
    Apply("semaphore-lease-timeout");
  }
}

awaitable<Value> CoordinationService::HandleRpc(std::shared_ptr<Connection> conn,
                                                const Value& msg) {
  const std::string op(OpOf(msg));
  std::optional<double> timeout;
  if (!ReadTimeout(msg.Find("timeout"), &timeout)) {
    co_return TypedErrorMessage("TypeError", "bad timeout in " + op);
  }
  Deadline deadline;
  if (timeout) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(*timeout));
  }
  if (Coordination::NeedsKnownKey(op)) {
    if (const Value* k = msg.Find("key"); k != nullptr && !k->is_nil()) {
      Result<Key> key = Key::FromValue(*k);
      if (key.ok() && !co_await WaitForKey(*key, deadline, *conn)) {
        co_return TypedErrorMessage("TimeoutError",
                                    "Task " + NameStr(*key) + " unknown to scheduler.");
      }
    }
  }
  const WaiterId waiter = next_waiter_++;
  std::optional<CoordinationReply> reply = coordination_.HandleRpc(op, msg, waiter, WallTime());
  Apply(op);
  if (!reply) reply = co_await Wait(conn, waiter, deadline);
  if (!reply) co_return Value();  // the caller left; nobody reads this
  co_return Encode(op, std::move(*reply));
}

awaitable<bool> CoordinationService::WaitForKey(const Key& key, Deadline deadline,
                                                const Connection& conn) {
  asio::steady_timer poll(io_);
  while (state_.task(key) == nullptr) {
    poll.expires_after(std::chrono::milliseconds(10));
    boost::system::error_code ec;
    co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (conn.closed() || (deadline && std::chrono::steady_clock::now() >= *deadline)) {
      co_return state_.task(key) != nullptr;
    }
  }
  co_return true;
}

awaitable<std::optional<CoordinationReply>> CoordinationService::Wait(
    std::shared_ptr<Connection> conn, WaiterId waiter, Deadline deadline) {
  auto wake = std::make_shared<asio::steady_timer>(
      io_, deadline.value_or(asio::steady_timer::time_point::max()));
  pending_[waiter].wake = wake;
  // The client sends nothing on this comm until it has the answer, so anything
  // arriving is the comm closing: forget the request then.
  asio::co_spawn(
      io_,
      [this, conn, waiter]() -> awaitable<void> {
        if (!co_await conn->WaitPeerClosed()) co_return;
        auto it = pending_.find(waiter);
        if (it == pending_.end() || it->second.reply) co_return;
        it->second.cancelled = true;
        it->second.wake->cancel();
        coordination_.Cancel(waiter);
        Apply("coordination-caller-left");
      },
      asio::detached);
  for (;;) {
    boost::system::error_code ec;
    co_await wake->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    Pending& p = pending_[waiter];
    if (p.reply || p.cancelled) break;
    if (!ec) {  // the deadline: the primitive answers as on a timeout
      coordination_.Timeout(waiter);
      Apply("coordination-timeout");
      if (!pending_[waiter].reply) break;  // not waiting any more; cannot happen
    }
  }
  std::optional<CoordinationReply> reply = std::move(pending_[waiter].reply);
  pending_.erase(waiter);
  co_return reply;
}

void CoordinationService::HandleClientOp(const std::string& client, const Value& msg) {
  std::string_view op = OpOf(msg);
  coordination_.HandleStreamOp(op, msg, client);
  Apply(op);
}

void CoordinationService::RemoveClient(const std::string& client) {
  coordination_.RemoveClient(client);
  Apply("client-stream-closed");
}

void CoordinationService::Apply(std::string_view cause) {
  CoordinationOutbox out = coordination_.TakeOutbox();
  for (Wakeup& w : out.wakeups) {
    auto it = pending_.find(w.waiter);
    if (it == pending_.end()) continue;
    it->second.reply = std::move(w.reply);
    it->second.wake->cancel();
  }
  if (out.key_changes.empty()) return;
  // As stock's extensions call client_desires_keys / client_releases_keys directly.
  const double now = WallTime();
  char digits[40];
  std::snprintf(digits, sizeof digits, "-%.6f", now);
  const Stimulus stim{std::string(cause) + digits, now};
  for (const KeyChange& c : out.key_changes) {
    switch (c.kind) {
      case KeyChange::Kind::kDesire: state_.ClientDesiresKeys(c.client, c.keys, stim); break;
      case KeyChange::Kind::kRelease: state_.ClientReleasesKeys(c.client, c.keys, stim); break;
      case KeyChange::Kind::kRemoveClient: state_.RemoveClient(c.client, stim); break;
    }
  }
  flush_();
}

void CoordinationService::AddFutureState(Value* record) const {
  Map* m = record->map();
  const Value* type = record->Find("type");
  if (m == nullptr || type == nullptr || !(*type == Value("Future"))) return;
  const Value* key_value = record->Find("value");
  Result<Key> key = Key::FromValue(key_value ? *key_value : Value());
  const TaskState* ts = key.ok() ? state_.task(*key) : nullptr;
  if (ts == nullptr) {
    m->push_back({Value("state"), Value("lost")});
    return;
  }
  m->push_back({Value("state"), Value(std::string(ToString(ts->status)))});
  if (ts->status == TaskStatus::kErred) {
    const TaskState* blame = ts->exception_blame ? ts->exception_blame : ts;
    m->push_back({Value("exception"), blame->exception});
    m->push_back({Value("traceback"), blame->traceback});
  }
}

Value CoordinationService::Encode(std::string_view op, CoordinationReply reply) const {
  if (!reply.ok()) return TypedErrorMessage(reply.error_type, reply.error_text);
  if (Coordination::ReturnsFutures(op)) {
    if (Array* records = reply.value.get_if<Array>()) {
      for (Value& r : *records) AddFutureState(&r);
    } else {
      AddFutureState(&reply.value);
    }
  }
  return std::move(reply.value);
}

}  // namespace dn
