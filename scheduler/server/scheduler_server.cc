#include "scheduler/server/scheduler_server.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "common/clock.h"
#include "protocol/comm/listener.h"
#include "protocol/serialize/bytes_serializer.h"
#include "scheduler/server/scheduler_server_internal.h"

namespace dn {

SchedulerServer::SchedulerServer(asio::io_context& io, ServerConfig config,
                                 std::unique_ptr<GraphIngestor> ingestor)
    : io_(io),
      config_(std::move(config)),
      ingestor_(std::move(ingestor)),
      state_(config_.state),
      coordination_(std::make_unique<CoordinationService>(
          io, state_, [this] { Flush(); }, config_.locks)),
      acceptor_(io) {
  id_ = NewId("Scheduler");
  started_ = Now();
}

SchedulerServer::~SchedulerServer() {
  ingestor_.reset();  // joins its thread before the state it posts to goes away
}

double SchedulerServer::Now() const { return WallTime(); }

Stimulus SchedulerServer::MakeStimulus(const Value& msg, std::string_view op) const {
  // The message's own stimulus_id when it has one (workers send theirs); otherwise one
  // made as stock makes them, f"{op}-{time()}".
  const double now = Now();
  if (const std::string* id = StrField(msg, "stimulus_id"); id != nullptr && !id->empty()) {
    return Stimulus{*id, now};
  }
  char digits[40];
  std::snprintf(digits, sizeof digits, "-%.6f", now);
  return Stimulus{std::string(op) + digits, now};
}

Status SchedulerServer::Start() {
  DN_RETURN_NOT_OK(Listen(acceptor_, config_.host, config_.port));
  auto local = acceptor_.local_endpoint();
  std::string host = config_.host == "0.0.0.0" ? "127.0.0.1" : config_.host;
  address_ = "tcp://" + host + ":" + std::to_string(local.port());
  WriteSchedulerFile();
  asio::co_spawn(
      io_, AcceptLoop(acceptor_, config_.limits, [this](auto conn) { return HandleComm(conn); }),
      asio::detached);
  asio::co_spawn(io_, Housekeeping(), asio::detached);
  coordination_->Start();
  last_activity_ = Now();
  return Status::OK();
}

void SchedulerServer::WriteSchedulerFile() const {
  if (config_.scheduler_file.empty()) return;
  std::ofstream out(config_.scheduler_file);
  out << "{\"type\": \"Scheduler\", \"id\": \"" << id_ << "\", \"address\": \"" << address_
      << "\", \"services\": {\"dashboard\": " << config_.dashboard_port
      << "}, \"started\": " << started_ << ", \"workers\": {}}\n";
}

void SchedulerServer::Stop(bool close_workers) {
  if (stopping_) return;
  stopping_ = true;
  coordination_->Stop();
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& [addr, conn] : worker_streams_) {
    if (!close_workers) continue;
    conn->Send(Value(Array{
        Value(Map{{Value("op"), Value("close")}, {Value("reason"), Value("scheduler-close")}}),
        Value(Map{{Value("op"), Value("close-stream")}})}));
  }
  for (auto& [id, conn] : client_streams_) {
    conn->Send(Value(Array{Value(Map{{Value("op"), Value("stream-closed")}})}));
  }
  // Let the farewell messages leave, then stop the loop.
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
  timer->async_wait([this, timer](boost::system::error_code) {
    for (auto& c : open_comms_) c->Close();
    io_.stop();
  });
}

awaitable<void> SchedulerServer::HandleComm(std::shared_ptr<Connection> conn) {
  open_comms_.push_back(conn);
  Handshake local;
  // A peer that does not complete its handshake in time is dropped.
  auto deadline = std::make_shared<asio::steady_timer>(
      io_, std::chrono::milliseconds(static_cast<int64_t>(config_.handshake_timeout_s * 1000)));
  deadline->async_wait([conn](boost::system::error_code ec) {
    if (!ec) conn->Close();
  });
  Result<Handshake> peer = co_await conn->DoHandshake(local);
  deadline->cancel();
  if (peer.ok()) {
    while (!conn->closed()) {
      // The same timer now bounds how long an RPC comm may sit idle.
      deadline->expires_after(
          std::chrono::milliseconds(static_cast<int64_t>(config_.idle_comm_timeout_s * 1000)));
      deadline->async_wait([conn](boost::system::error_code ec) {
        if (!ec) conn->Close();
      });
      Result<Value> msg = co_await conn->Read();
      deadline->cancel();
      if (!msg.ok()) {
        if (msg.status().code() != StatusCode::kIOError) {
          std::fprintf(stderr, "dask-native-scheduler: closing %s: %s\n", conn->peer().c_str(),
                       msg.status().ToString().c_str());
        }
        break;
      }
      if (msg->map() == nullptr) {
        std::fprintf(stderr, "dask-native-scheduler: closing %s: request is not a map\n",
                     conn->peer().c_str());
        break;
      }
      std::string_view op = OpOf(*msg);
      if (op == kRegisterClientOp) {
        co_await ClientStream(conn, *msg);
        break;
      }
      if (op == kRegisterWorkerOp) {
        co_await WorkerStream(conn, *msg);
        break;
      }
      const Value* reply_flag = msg->Find("reply");
      bool reply = !(reply_flag && reply_flag->is<bool>() && !*reply_flag->get_if<bool>());
      if (op == kCloseCommOp) {
        if (reply) conn->Send(Value("OK"));
        break;
      }
      std::optional<Value> out = co_await HandleRpc(conn, *msg);
      if (reply && out) conn->Send(*out);
      const Value* close = msg->Find("close");
      if (close && close->is<bool>() && *close->get_if<bool>()) break;
    }
  }
  // Give queued replies a moment to leave before closing.
  asio::steady_timer t(io_, std::chrono::milliseconds(50));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  conn->Close();
  std::erase(open_comms_, conn);
}

// --- client streams ----------------------------------------------------------------

awaitable<void> SchedulerServer::ClientStream(std::shared_ptr<Connection> conn,
                                              const Value& first) {
  const std::string* id_p = StrField(first, "client");
  if (id_p == nullptr) co_return;
  std::string id = *id_p;
  client_streams_[id] = conn;
  state_.AddClient(id, MakeStimulus(first, "client-connect"));
  // The client asserts the first batch is exactly [stream-start].
  conn->Send(Value(Array{Value(Map{{Value("op"), Value("stream-start")},
                                   {Value("warning"), Value("")},
                                   {Value("error"), Value("")}})}));
  bool closing = false;
  while (!closing) {
    Result<Array> batch = co_await ReadBatch(*conn);
    if (!batch.ok()) break;
    for (const Value& m : *batch) {
      std::string_view op = OpOf(m);
      if (op == kCloseStreamOp) {
        closing = true;
        continue;
      }
      if (op == kUpdateGraphOp) {
        Flush();
        co_await UpdateGraph(id, m);
      } else {
        HandleClientOp(id, m);
      }
    }
    Flush();
  }
  if (client_streams_[id] == conn) client_streams_.erase(id);
  client_batches_.erase(id);
  client_next_send_.erase(id);
  coordination_->RemoveClient(id);
  state_.RemoveClient(id, MakeStimulus(Value(), "client-stream-closed"));
  broker_.RemoveSubscriber(id);
  Flush();
}

awaitable<Result<IngestResult>> SchedulerServer::Ingest(IngestRequest request) {
  // The ingestor calls back on its own thread; the result is posted to this loop and a
  // timer serves as the event the coroutine waits on.
  auto done = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
  auto slot = std::make_shared<std::optional<Result<IngestResult>>>();
  ingestor_->Submit(std::move(request), [this, done, slot](Result<IngestResult> result) {
    asio::post(io_, [done, slot, result = std::move(result)]() mutable {
      slot->emplace(std::move(result));
      done->cancel();
    });
  });
  while (!slot->has_value()) {
    boost::system::error_code ec;
    co_await done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(**slot);
}

awaitable<void> SchedulerServer::UpdateGraph(const std::string& client, const Value& msg) {
  std::vector<Key> keys = KeysFromValue(msg.Find("keys"));
  const Value* expr = msg.Find("expr_ser");
  if (expr == nullptr || !expr->is<Serialized>()) {
    state_.UpdateGraphFailed(client, keys, Value("update-graph without an expr_ser graph"), Value(),
                             MakeStimulus(msg, "update-graph"));
    co_return;
  }
  IngestRequest req;
  req.expr = *expr->get_if<Serialized>();
  for (const Key& k : keys) req.keys.push_back(k.ToValue());
  req.internal_priority = Field(msg, "internal_priority");
  if (const Value* a = msg.Find("annotations"); a && a->is<Pickled>()) {
    req.annotations = *a->get_if<Pickled>();
  }
  Result<IngestResult> result = co_await Ingest(std::move(req));
  // The stimulus is the graph's arrival; its time is when ingestion finished.
  const Stimulus stim = MakeStimulus(msg, "update-graph");
  if (!result.ok()) {
    state_.UpdateGraphFailed(client, keys, Value(result.status().ToString()), Value(), stim);
  } else if (result->failed) {
    Value exc = result->exception_pickle.empty() ? Value(result->error_text)
                                                 : Value(SerializeBytes(result->exception_pickle));
    Value tb = result->traceback_pickle.empty() ? Value()
                                                : Value(SerializeBytes(result->traceback_pickle));
    state_.UpdateGraphFailed(client, keys, exc, tb, stim);
  } else {
    state_.UpdateGraph(client, std::move(result->tasks), keys, stim);
  }
}

// --- worker streams ----------------------------------------------------------------

awaitable<void> SchedulerServer::WorkerStream(std::shared_ptr<Connection> conn, const Value& msg) {
  auto ws = std::make_unique<WorkerState>();
  const std::string* addr = StrField(msg, "address");
  if (addr == nullptr) co_return;
  ws->address = *addr;
  if (auto hp = ParseTcpAddress(*addr); hp.ok()) ws->host = hp->first;
  ws->name = Field(msg, "name");
  ws->nthreads = std::max<int64_t>(1, IntField(msg, "nthreads", 1));
  ws->memory_limit = Field(msg, "memory_limit");
  if (const std::string* d = StrField(msg, "local_directory")) ws->local_directory = *d;
  if (const Value* v = msg.Find("services"); v && v->map()) ws->services = *v;
  ws->nanny = Field(msg, "nanny");
  if (const Value* v = msg.Find("resources"); v && v->map()) ws->resources = *v;
  if (const Value* v = msg.Find("metrics"); v && v->map()) {
    ws->metrics = *v;
    ws->cpus = ReportedCpus(*v);
  }
  if (const Value* v = msg.Find("extra"); v && v->map()) ws->extra = *v;
  ws->pid = IntField(msg, "pid", 0);
  if (const std::string* s = StrField(msg, "status")) ws->status = *s;
  std::string address = ws->address;
  Status st = state_.AddWorker(std::move(ws), MakeStimulus(msg, "add-worker"));
  if (!st.ok()) {
    conn->Send(Value(Map{{Value("status"), Value("error")},
                         {Value("message"), Value(st.message())},
                         {Value("time"), Value(Now())}}));
    co_return;
  }
  conn->Send(Value(Map{{Value("status"), Value("OK")},
                       {Value("time"), Value(Now())},
                       {Value("heartbeat-interval"), Value(0.5)},
                       {Value("worker-plugins"), Value(Map{})},
                       {Value("warning"), Value("")},
                       {Value("error"), Value("")}}));
  worker_streams_[address] = conn;
  Flush();
  bool closing = false;
  while (!closing) {
    Result<Array> batch = co_await ReadBatch(*conn);
    if (!batch.ok()) break;
    for (const Value& m : *batch) {
      if (OpOf(m) == kCloseStreamOp) {
        closing = true;
        continue;
      }
      HandleWorkerOp(address, m);
    }
    Flush();
  }
  if (worker_streams_[address] == conn) worker_streams_.erase(address);
  worker_batches_.erase(address);
  for (auto& c : rpc_pool_[address]) c->Close();
  rpc_pool_.erase(address);
  state_.RemoveWorker(address, "worker-stream-closed",
                      MakeStimulus(Value(), "worker-stream-closed"));
  Flush();
}

Buffer SchedulerServer::OwnedTaskType(const Buffer& type) {
  // Few distinct types occur; past this many, each further one is copied, not kept.
  constexpr size_t kMaxSharedTypes = 1024;
  std::string bytes(reinterpret_cast<const char*>(type.data()), type.size());
  auto it = task_types_.find(bytes);
  if (it != task_types_.end()) return it->second;
  Buffer owned = Buffer::CopyFrom(bytes);
  if (task_types_.size() < kMaxSharedTypes) task_types_.emplace(std::move(bytes), owned);
  return owned;
}

void SchedulerServer::Flush() {
  Outbox out = state_.TakeOutbox();
  for (auto& [addr, ops] : out.to_workers) {
    Array& pending = worker_batches_[addr];
    for (Value& op : ops) pending.push_back(std::move(op));
  }
  if (!worker_batches_.empty() && !worker_flush_posted_) {
    worker_flush_posted_ = true;
    asio::post(io_, [this] { SendWorkerBatches(); });
  }
  for (auto& [id, ops] : out.to_clients) {
    Array& pending = client_batches_[id];
    for (Value& op : ops) pending.push_back(std::move(op));
  }
  ScheduleClientFlush();
}

void SchedulerServer::ScheduleClientFlush() {
  if (client_batches_.empty() || client_flush_armed_) return;
  const auto now = std::chrono::steady_clock::now();
  auto due = std::chrono::steady_clock::time_point::max();
  for (const auto& [id, ops] : client_batches_) {
    auto next = client_next_send_.find(id);
    due = std::min(due, next == client_next_send_.end() ? now : next->second);
  }
  client_flush_armed_ = true;
  if (due <= now) {
    asio::post(io_, [this] { SendClientBatches(); });
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(io_, due);
  timer->async_wait([this, timer](boost::system::error_code) { SendClientBatches(); });
}

void SchedulerServer::SendWorkerBatches() {
  worker_flush_posted_ = false;
  for (auto& [addr, ops] : worker_batches_) {
    auto it = worker_streams_.find(addr);
    if (it != worker_streams_.end() && !ops.empty()) it->second->Send(Value(std::move(ops)));
  }
  worker_batches_.clear();
}

void SchedulerServer::SendClientBatches() {
  client_flush_armed_ = false;
  const auto now = std::chrono::steady_clock::now();
  for (auto batch = client_batches_.begin(); batch != client_batches_.end();) {
    auto next = client_next_send_.find(batch->first);
    if (next != client_next_send_.end() && next->second > now) {
      ++batch;  // sent less than an interval ago: its turn comes
      continue;
    }
    auto stream = client_streams_.find(batch->first);
    if (stream != client_streams_.end() && !batch->second.empty()) {
      stream->second->Send(Value(std::move(batch->second)));
      client_next_send_[batch->first] = now + kClientBatchInterval;
    }
    batch = client_batches_.erase(batch);
  }
  ScheduleClientFlush();
}

// --- datasets --------------------------------------------------------------------------

void SchedulerServer::OnFlush(const Value& uid) {
  for (auto it = flush_waiters_.begin(); it != flush_waiters_.end(); ++it) {
    if (it->first == uid) {
      it->second->cancel();
      flush_waiters_.erase(it);
      return;
    }
  }
  flushed_uids_.push_back(uid);
}

// The client sends publish_flush_batched_send on its stream before the RPC, so the
// RPC sees every graph the client submitted first (publish.py:_sync_batched_send).
awaitable<void> SchedulerServer::WaitForFlush(const Value& uid) {
  if (uid.is_nil()) co_return;
  auto seen = std::find(flushed_uids_.begin(), flushed_uids_.end(), uid);
  if (seen != flushed_uids_.end()) {
    flushed_uids_.erase(seen);
    co_return;
  }
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(30));
  flush_waiters_.emplace_back(uid, timer);
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  std::erase_if(flush_waiters_, [&](const auto& w) { return w.second == timer; });
}

awaitable<Value> SchedulerServer::PublishPut(const Value& msg) {
  co_await WaitForFlush(Field(msg, "uid"));
  const Value* names = msg.Find("names");
  const Value* keys = msg.Find("keys");
  const Value* data = msg.Find("data");
  const Value* ov = msg.Find("override");
  bool override = ov && ov->is<bool>() && *ov->get_if<bool>();
  if (!names || !names->array() || !keys || !keys->array() || !data || !data->array() ||
      names->array()->size() != keys->array()->size() ||
      names->array()->size() != data->array()->size()) {
    co_return ErrorMessage("publish_put needs names, keys and data of equal length");
  }
  const Stimulus stim = MakeStimulus(msg, "publish-put");
  for (size_t i = 0; i < names->array()->size(); ++i) {
    auto name = Key::FromValue((*names->array())[i]);
    if (!name.ok()) co_return ErrorMessage("bad dataset name");
    std::string holder = "published-" + (name->str() ? *name->str() : name->Repr());
    auto it = datasets_.find(*name);
    if (it != datasets_.end()) {
      if (!override)
        co_return ErrorMessage("KeyError: 'Dataset " + name->Repr() + " already exists'");
      state_.ClientReleasesKeys(holder, KeysFromValue(&it->second.keys), stim);
      datasets_.erase(it);
    }
    const Value& keys_i = (*keys->array())[i];
    state_.ClientDesiresKeys(holder, KeysFromValue(&keys_i), stim);
    datasets_[*name] = Dataset{keys_i, (*data->array())[i]};
  }
  Flush();
  co_return Value();
}

Value SchedulerServer::PublishDelete(const Value& msg) {
  if (const Value* names = msg.Find("names"); names && names->array()) {
    for (const Value& n : *names->array()) {
      auto name = Key::FromValue(n);
      if (!name.ok()) continue;
      auto it = datasets_.find(*name);
      if (it == datasets_.end()) continue;
      state_.ClientReleasesKeys("published-" + (name->str() ? *name->str() : name->Repr()),
                                KeysFromValue(&it->second.keys),
                                MakeStimulus(msg, "publish-delete"));
      datasets_.erase(it);
    }
  }
  Flush();
  return Value();
}

// --- housekeeping ------------------------------------------------------------------

awaitable<void> SchedulerServer::Housekeeping() {
  asio::steady_timer timer(io_);
  while (!stopping_) {
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    double now = Now();
    const Stimulus ttl_stim = MakeStimulus(Value(), "check-worker-ttl");
    std::vector<std::string> silent = config_.worker_ttl_s > 0
                                          ? state_.WorkersPastTtl(config_.worker_ttl_s, now)
                                          : std::vector<std::string>{};
    for (const std::string& addr : silent) {
      const WorkerState* ws = state_.worker(addr);
      std::fprintf(stderr, "dask-native-scheduler: removing %s: no heartbeat for %.0f s\n",
                   addr.c_str(), now - ws->last_seen);
      auto it = worker_streams_.find(addr);
      if (it != worker_streams_.end()) it->second->Close();
      state_.RemoveWorker(addr, "worker-ttl-timed-out", ttl_stim);
    }
    if (!silent.empty()) Flush();
    bool busy = !client_streams_.empty();
    for (const auto& ws : state_.workers()) busy = busy || !ws->processing.empty();
    if (busy) last_activity_ = now;
    if (config_.idle_timeout_s > 0 && now - last_activity_ > config_.idle_timeout_s) {
      std::fprintf(stderr, "dask-native-scheduler: idle for %.0f s, closing\n",
                   config_.idle_timeout_s);
      Stop();
    }
  }
}

awaitable<Value> SchedulerServer::RetireWorkers(const Value& msg) {
  std::vector<WorkerState*> targets;
  auto add = [&](WorkerState* ws) {
    if (ws && std::find(targets.begin(), targets.end(), ws) == targets.end()) targets.push_back(ws);
  };
  if (const Value* w = msg.Find("workers"); w && w->array()) {
    for (const Value& x : *w->array()) {
      if (const std::string* s = x.str()) add(state_.worker(*s));
    }
  }
  if (const Value* n = msg.Find("names"); n && n->array()) {
    for (const Value& name : *n->array()) {
      for (const auto& ws : state_.workers()) {
        if (ws->name == name || (name.str() && Value(*name.str()) == ws->name)) add(ws.get());
      }
    }
  }
  const Value* cw = msg.Find("close_workers");
  bool close_workers = cw && cw->is<bool>() && *cw->get_if<bool>();
  Map out;
  for (WorkerState* ws : targets) out.push_back({Value(ws->address), WorkerInfo(*ws)});
  std::vector<std::string> addresses;
  for (WorkerState* ws : targets) addresses.push_back(ws->address);
  const Stimulus stim = MakeStimulus(msg, "retire-workers");
  for (const std::string& addr : addresses) {
    state_.WorkerStatusChange(addr, "closing_gracefully", stim);
  }
  Flush();
  // Copy results only the retiring workers hold to the others, then wait for them;
  // the state machine chooses the destinations, and asks again every 2 s.
  for (int round = 0; round < 300; ++round) {
    if (!state_.ReplicateFromRetiring(addresses, round % 20 == 0, stim)) break;
    Flush();
    asio::steady_timer t(io_, std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  for (const std::string& addr : addresses) {
    if (close_workers) state_.CloseWorker(addr, "scheduler-remove-worker", stim);
  }
  Flush();
  for (const std::string& addr : addresses) {
    auto it = worker_streams_.find(addr);
    state_.RemoveWorker(addr, "retired", stim);
    if (it != worker_streams_.end() && !close_workers) {
      // Without close_workers the worker stays up but leaves the cluster.
      it->second->Send(Value(Array{Value(Map{{Value("op"), Value("close-stream")}})}));
    }
  }
  Flush();
  co_return Value(std::move(out));
}

}  // namespace dn
