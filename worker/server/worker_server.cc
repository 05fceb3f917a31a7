#include "worker/server/worker_server.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "common/clock.h"
#include "common/dask_config.h"
#include "common/page_pool.h"
#include "protocol/comm/listener.h"
#include "worker/server/worker_server_internal.h"

namespace dn {

namespace {

worker::WorkerStateOptions StateOptions(const WorkerConfig& config,
                                        std::function<bool(const worker::TaskState&)> ahead) {
  worker::WorkerStateOptions o;
  o.nthreads = config.nthreads;
  o.validate = config.validate;
  o.run_ahead = kNativeLookahead;
  o.may_run_ahead = std::move(ahead);
  // distributed.worker.memory.transfer: incoming transfers up to 10% of the limit.
  if (config.memory_limit && *config.memory_limit > 0) {
    o.transfer_incoming_bytes_limit =
        static_cast<int64_t>(0.1 * static_cast<double>(*config.memory_limit));
  }
  return o;
}

}  // namespace

WorkerServer::WorkerServer(asio::io_context& io, WorkerConfig config,
                           std::unique_ptr<PythonRuntime> python)
    : io_(io),
      config_(std::move(config)),
      python_(std::move(python)),
      acceptor_(io),
      state_(
          StateOptions(config_, [this](const worker::TaskState& ts) { return MayRunAhead(ts); })),
      store_(config_.local_directory + "/dask-native-worker-" + std::to_string(getpid()) +
             "-storage") {
  // One native thread per task slot, but never more than the CPUs the process may use
  // (a 1-CPU pod running --nthreads 4 gets one), so kernels do not oversubscribe.
  executor_ =
      std::make_unique<native::NativeExecutor>(std::min(config_.nthreads, config_.cpu_limit));
  if (config_.memory_limit && *config_.memory_limit > 0) {
    PagePool::Global().SetCapacity(
        static_cast<size_t>(kPoolFraction * static_cast<double>(*config_.memory_limit)));
  } else {
    PagePool::Global().SetCapacity(kPoolWithoutLimit);
  }
  // A pool miss waits for fresh pages; the cores this process may use share that wait.
  PagePool::Global().SetPopulateThreads(std::min(config_.cpu_limit, kMaxPopulateThreads));
  std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  std::snprintf(buf, sizeof buf, "Worker-%016llx", static_cast<unsigned long long>(rng()));
  server_id_ = buf;
}

WorkerServer::~WorkerServer() {
  watch_stop_ = true;
  if (watch_thread_.joinable()) watch_thread_.join();
  // Native values may hold Python arrays (exported results): drop them while the
  // interpreter is alive, after the executor's jobs are done.
  executor_.reset();
  native_.clear();
  python_.reset();
}

Status WorkerServer::Start() {
  DN_RETURN_NOT_OK(Listen(acceptor_, config_.listen_host, config_.listen_port));
  if (config_.validate) {
    std::fprintf(stderr,
                 "dask-native-worker: validating the task state machine after every event\n");
  }
  asio::co_spawn(
      io_, AcceptLoop(acceptor_, config_.limits, [this](auto conn) { return ServeComm(conn); }),
      asio::detached);
  asio::co_spawn(io_, ConnectToScheduler(), asio::detached);
  asio::co_spawn(io_, MemoryMonitor(), asio::detached);
  if (std::optional<std::string> limit = DaskConfigFromEnv("distributed.admin.tick.limit")) {
    if (!ParseDuration(*limit, &tick_limit_) || tick_limit_ <= 0) {
      return Status::Invalid("bad distributed.admin.tick.limit '" + *limit + "'");
    }
  }
  last_tick_ = WallTime();
  asio::co_spawn(io_, Watchdog(), asio::detached);
  watch_thread_ = std::thread([this] { WatchLoop(); });
  return Status::OK();
}

// On the event loop: beat, and log tasks that have run long (after a minute, then each
// time their run time doubles), so a task that makes no progress never hides: the log
// says which, and Client.call_stack shows where it is.
awaitable<void> WorkerServer::Watchdog() {
  constexpr auto kTick = std::chrono::milliseconds(100);
  constexpr double kFirstReport = 60;
  while (!stopping_) {
    asio::steady_timer t(io_, kTick);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    const double now = WallTime();
    last_tick_ = now;
    for (auto& [key, run] : running_) {
      if (!run.started) continue;
      const double ran = now - run.started_at;
      if (ran < std::max(kFirstReport, 2 * run.reported_at)) continue;
      run.reported_at = ran;
      std::fprintf(stderr,
                   "dask-native-worker: task %s has been running for %.0f s (%s); "
                   "Client.call_stack() shows where\n",
                   key.Repr().c_str(), ran, run.python ? "Python" : "native kernel");
    }
  }
}

// On its own thread: stock logs "Event loop was unresponsive" once the loop is back
// (distributed.admin.tick.limit); this also says so while it is still blocked.
void WorkerServer::WatchLoop() {
  double stalled_since = 0;
  while (!watch_stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const double last = last_tick_, lag = WallTime() - last;
    if (lag > tick_limit_ && stalled_since != last) {
      stalled_since = last;
      std::fprintf(stderr, "dask-native-worker: event loop unresponsive for %.1f s so far\n", lag);
    } else if (lag <= tick_limit_ && stalled_since != 0) {
      std::fprintf(stderr, "dask-native-worker: event loop was unresponsive in Worker for %.2fs\n",
                   last - stalled_since);
      stalled_since = 0;
    }
  }
}

void WorkerServer::Stop() {
  if (stopping_) return;
  stopping_ = true;
  if (stream_) stream_->Send(Value(Array{Value(Map{{Value("op"), Value("close-stream")}})}));
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
  timer->async_wait([this, timer](boost::system::error_code) {
    boost::system::error_code ec;
    acceptor_.close(ec);
    if (stream_) stream_->Close();
    io_.stop();
  });
}

void WorkerServer::CloseGracefully() {
  if (stopping_) return;
  if (!stream_) {
    Stop();
    return;
  }
  asio::co_spawn(io_, RetireSelf(), asio::detached);
}

awaitable<void> WorkerServer::RetireSelf() {
  auto hp = ParseTcpAddress(config_.scheduler_address);
  if (hp.ok()) {
    auto dialed = co_await Connection::Dial(hp->first, hp->second, config_.limits);
    if (dialed.ok()) {
      std::shared_ptr<Connection> conn = *dialed;
      Handshake local;
      auto hs = co_await conn->DoHandshake(local);
      if (hs.ok()) {
        Value req(Map{{Value("op"), Value("retire_workers")},
                      {Value("workers"), Value(Array{Value(address_)})},
                      {Value("close_workers"), Value(false)},
                      {Value("remove"), Value(true)},
                      {Value("stimulus_id"), Value(Stimulus("worker-close"))},
                      {Value("reply"), Value(true)}});
        Result<Value> reply = co_await conn->Request(req);
        (void)reply;
      }
      conn->Close();
    }
  }
  Stop();
}

Value WorkerServer::Metrics() const {
  Map transfer;
  for (const char* k : {"incoming_bytes", "incoming_count", "incoming_count_total",
                        "outgoing_bytes", "outgoing_count", "outgoing_count_total"}) {
    transfer.push_back({Value(k), Value(0)});
  }
  const PagePool& pool = PagePool::Global();
  return Value(
      Map{{Value("task_counts"), Value(Map{})},
          {Value("bandwidth"), Value(Map{{Value("total"), Value(100000000)},
                                         {Value("workers"), Value(Map{})},
                                         {Value("types"), Value(Map{})}})},
          {Value("digests_total_since_heartbeat"), Value(Map{})},
          {Value("managed_bytes"), Value(store_.memory_bytes() + store_.spilled_nbytes())},
          {Value("spilled_bytes"), Value(Map{{Value("memory"), Value(store_.spilled_nbytes())},
                                             {Value("disk"), Value(store_.disk_bytes())}})},
          {Value("transfer"), Value(std::move(transfer))},
          {Value("event_loop_interval"), Value(0.02)},
          {Value("cpu"), Value(0.0)},
          {Value("memory"), Value(RssBytes())},
          {Value("time"), Value(WallTime())},
          {Value("host_net_io"),
           Value(Map{{Value("read_bps"), Value(0.0)}, {Value("write_bps"), Value(0.0)}})},
          {Value("host_disk_io"),
           Value(Map{{Value("read_bps"), Value(0.0)}, {Value("write_bps"), Value(0.0)}})},
          {Value("num_fds"), Value(0)},
          // Ours, not in stock's metrics: tasks run natively versus in the embedded Python,
          // natively held keys and the page pool's counters.
          {Value("dask_native"),
           Value(Map{{Value("native_tasks"), Value(native_tasks_)},
                     {Value("python_tasks"), Value(python_tasks_)},
                     {Value("native_keys"), Value(static_cast<int64_t>(native_.size()))},
                     {Value("pooled_bytes"), Value(static_cast<int64_t>(pool.pooled_bytes()))},
                     {Value("pool_hits"), Value(static_cast<int64_t>(pool.hits()))},
                     {Value("pool_misses"), Value(static_cast<int64_t>(pool.misses()))},
                     // Read by our scheduler to share root tasks among
                     // workers that share a host's cores.
                     {Value("cpus"), Value(static_cast<int64_t>(config_.cpu_limit))}})}});
}

// Every field worker.py:_register_with_scheduler sends; add_worker is strict.
Value WorkerServer::RegisterMessage() const {
  return Value(
      Map{{Value("op"), Value("register-worker")},
          {Value("reply"), Value(false)},
          {Value("address"), Value(address_)},
          {Value("status"), Value("running")},
          {Value("nthreads"), Value(static_cast<int64_t>(config_.nthreads))},
          {Value("name"), config_.name.is_nil() ? Value(address_) : config_.name},
          {Value("now"), Value(WallTime())},
          {Value("resources"), Value(config_.resources)},
          {Value("memory_limit"), config_.memory_limit ? Value(*config_.memory_limit) : Value()},
          {Value("local_directory"), Value(config_.local_directory)},
          {Value("services"), Value(Map{})},
          {Value("nanny"), Value()},
          {Value("pid"), Value(static_cast<int64_t>(getpid()))},
          {Value("versions"), python_->versions()},
          {Value("metrics"), Metrics()},
          {Value("extra"), Value(Map{})},
          {Value("stimulus_id"), Value(Stimulus("worker-connect"))},
          {Value("server_id"), Value(server_id_)}});
}

awaitable<void> WorkerServer::ConnectToScheduler() {
  auto hp = ParseTcpAddress(config_.scheduler_address);
  if (!hp.ok()) {
    std::fprintf(stderr, "dask-native-worker: %s\n", hp.status().ToString().c_str());
    Stop();
    co_return;
  }
  double deadline = config_.death_timeout_s > 0 ? WallTime() + config_.death_timeout_s : 0;
  std::shared_ptr<Connection> conn;
  while (!stopping_) {
    auto dialed = co_await Connection::Dial(hp->first, hp->second, config_.limits);
    if (dialed.ok()) {
      conn = *dialed;
      break;
    }
    if (deadline > 0 && WallTime() > deadline) {
      std::fprintf(stderr, "dask-native-worker: no scheduler at %s within the death timeout\n",
                   config_.scheduler_address.c_str());
      exit_code_ = kExitGaveUp;
      Stop();
      co_return;
    }
    asio::steady_timer t(io_, std::chrono::milliseconds(500));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!conn) co_return;
  Handshake local;
  auto hs = co_await conn->DoHandshake(local);
  if (!hs.ok()) {
    Stop();
    co_return;
  }
  // The contact address: the local side of this connection unless given.
  std::string host = config_.contact_host;
  if (host.empty()) {
    std::string local_addr = conn->local_host();
    host = local_addr.empty() ? "127.0.0.1" : local_addr;
  }
  address_ = "tcp://" + host + ":" + std::to_string(acceptor_.local_endpoint().port());
  state_.set_address(address_);
  conn->Send(RegisterMessage());
  Result<Value> reply = co_await conn->Read();
  const Value* status = reply.ok() ? reply->Find("status") : nullptr;
  if (!status || !status->str() || *status->str() != "OK") {
    std::fprintf(stderr, "dask-native-worker: registration refused: %s\n",
                 reply.ok() ? reply->ToDebugString().c_str() : reply.status().ToString().c_str());
    exit_code_ = kExitGaveUp;
    Stop();
    co_return;
  }
  std::fprintf(stderr, "dask-native-worker: registered to %s as %s\n",
               config_.scheduler_address.c_str(), address_.c_str());
  stream_ = conn;
  asio::co_spawn(io_, HeartbeatLoop(), asio::detached);
  asio::co_spawn(io_, FindMissingLoop(), asio::detached);
  co_await StreamLoop();
}

awaitable<void> WorkerServer::StreamLoop() {
  while (!stopping_) {
    Result<Array> batch = co_await ReadBatch(*stream_);
    if (!batch.ok()) break;
    // One batch, one pass of the state machine: keys several compute-tasks need from
    // one peer share a get_data.
    std::vector<worker::Event> events;
    for (const Value& m : *batch) HandleStreamOp(m, events);
    if (!events.empty()) Carry(state_.HandleAll(std::move(events)));
  }
  // A worker without its scheduler closes, as stock workers do.
  Stop();
}

awaitable<void> WorkerServer::HeartbeatLoop() {
  auto hp = ParseTcpAddress(config_.scheduler_address);
  std::shared_ptr<Connection> conn;
  while (!stopping_) {
    asio::steady_timer t(io_, std::chrono::milliseconds(500));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    if (!conn || conn->closed()) {
      auto dialed = co_await Connection::Dial(hp->first, hp->second, config_.limits);
      if (!dialed.ok()) continue;
      conn = *dialed;
      Handshake local;
      if (!(co_await conn->DoHandshake(local)).ok()) continue;
    }
    Value req(Map{{Value("op"), Value("heartbeat_worker")},
                  {Value("address"), Value(address_)},
                  {Value("now"), Value(WallTime())},
                  {Value("metrics"), Metrics()},
                  {Value("executing"), Value(Map{})},
                  {Value("extensions"), Value(Map{})},
                  {Value("reply"), Value(true)}});
    Result<Value> reply = co_await conn->Request(req);
    if (reply.ok()) {
      const Value* st = reply->Find("status");
      if (st && st->str() && *st->str() == "missing") Stop();
    }
  }
}

void WorkerServer::SendToScheduler(Value op) {
  stream_batch_.push_back(std::move(op));
  if (stream_flush_posted_) return;
  stream_flush_posted_ = true;
  asio::post(io_, [this] {
    stream_flush_posted_ = false;
    if (stream_ && !stream_batch_.empty())
      stream_->Send(Value(std::exchange(stream_batch_, Array{})));
  });
}

void WorkerServer::RejectComputeTask(const Value& m, const Status& why) {
  // Never drop a task silently: the scheduler would wait for it forever. If the key
  // reads, the task errs (the client sees why); if not, nothing can name it to the
  // scheduler, and the log is all there is.
  const Value* key_field = m.Find("key");
  auto key = key_field ? Key::FromValue(*key_field) : Result<Key>(Status::Invalid("no key"));
  std::fprintf(stderr, "dask-native-worker: cannot read compute-task %s: %s\n",
               key.ok() ? key->Repr().c_str() : "(unreadable key)", why.ToString().c_str());
  if (!key.ok()) return;
  TaskErred te;
  te.key = key.MoveValueUnsafe();
  const Value* run_id = m.Find("run_id");
  if (run_id && run_id->get_if<int64_t>()) te.run_id = *run_id->get_if<int64_t>();
  const std::string text = "dask-native-worker cannot read this compute-task: " + why.ToString();
  te.exception = WorkerException("RuntimeError", text);
  te.exception_text = "RuntimeError('" + text + "')";
  te.stimulus_id = Stimulus("compute-task-unreadable");
  SendToScheduler(te.ToValue());
}

void WorkerServer::Feed(worker::Event ev) { Carry(state_.Handle(std::move(ev))); }

void WorkerServer::Carry(worker::Instructions instructions) {
  for (worker::Instruction& ins : instructions) {
    if (auto* e = std::get_if<worker::Execute>(&ins)) {
      StartExecute(e->key);
    } else if (auto* g = std::get_if<worker::GatherDep>(&ins)) {
      // Started from the loop, never inline: a failure must not re-enter the state
      // machine while these instructions are being carried out.
      asio::post(io_, [this, peer = std::move(g->worker), keys = std::move(g->keys),
                       n = g->total_nbytes]() mutable {
        asio::co_spawn(io_, Fetch(std::move(peer), std::move(keys), n), asio::detached);
      });
    } else if (auto* r = std::get_if<worker::RetryBusyWorkerLater>(&ins)) {
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(150));
      timer->async_wait([this, timer, worker = r->worker](boost::system::error_code) {
        worker::RetryBusyWorkerEvent ev;
        ev.worker = worker;
        Feed(WithStimulus(std::move(ev), Stimulus("retry-busy-worker")));
      });
    } else if (auto* f = std::get_if<worker::TaskFinishedMsg>(&ins)) {
      SendToScheduler(f->ToValue());
    } else if (auto* te = std::get_if<worker::TaskErredMsg>(&ins)) {
      SendToScheduler(te->ToValue());
    } else if (auto* rel = std::get_if<worker::ReleaseWorkerDataMsg>(&ins)) {
      // Data a running task still reads is dropped from the books now; Python frees the
      // object after the task's own reference goes.
      DropValue(rel->key);
      SendToScheduler(rel->ToValue());
    } else if (auto* a = std::get_if<worker::AddKeysMsg>(&ins)) {
      SendToScheduler(a->ToValue());
    } else if (auto* rr = std::get_if<worker::RequestRefreshWhoHasMsg>(&ins)) {
      SendToScheduler(rr->ToValue());
    } else if (auto* sr = std::get_if<worker::StealResponseMsg>(&ins)) {
      SendToScheduler(sr->ToValue());
    }
  }
}

void WorkerServer::SettleStored(const std::vector<std::pair<Key, int64_t>>& stored) {
  for (const auto& [key, nbytes] : stored) {
    if (state_.InMemory(key)) {
      store_.PutInMemory(key, nbytes);
    } else {
      DropValue(key);
    }
  }
}

void WorkerServer::DropValue(const Key& key) {
  store_.Erase(key);
  native_.erase(key);
  spilled_native_.erase(key);
  if (native_only_.erase(key) == 0) python_->Post([this, key] { python_->Delete(key); });
}

// Stock asks the scheduler about missing keys every second (Worker.find_missing).
awaitable<void> WorkerServer::FindMissingLoop() {
  while (!stopping_) {
    asio::steady_timer t(io_, std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    Feed(WithStimulus(worker::FindMissingEvent{}, Stimulus("find-missing")));
  }
}

// Client.story: the story records that name any of `keys_or_stimuli`, as
// WorkerState.story returns them.
Value WorkerServer::GetStory(const Value& msg) const {
  std::vector<Key> keys;
  std::vector<std::string> stimuli;
  auto add = [&](const Value& v) {
    if (auto k = Key::FromValue(v); k.ok()) keys.push_back(k.MoveValueUnsafe());
    if (const std::string* s = v.str()) stimuli.push_back(*s);
  };
  if (const Value* v = msg.Find("keys_or_stimuli")) {
    if (const Array* a = v->array()) {
      for (const Value& x : *a) add(x);
    } else if (const Set* set = v->get_if<Set>()) {
      for (const Value& x : set->items) add(x);
    } else {
      add(*v);
    }
  }
  Array out;
  for (const worker::StoryRecord* rec : state_.Story(keys, stimuli)) out.push_back(rec->ToValue());
  return Value(std::move(out));
}

// RPCs from the scheduler, peers and clients, one at a time per comm (worker_dispatch.cc).
awaitable<void> WorkerServer::ServeComm(std::shared_ptr<Connection> conn) {
  Handshake local;
  auto hs = co_await conn->DoHandshake(local);
  if (!hs.ok()) co_return;
  while (!conn->closed()) {
    Result<Value> msg = co_await conn->Read();
    if (!msg.ok() || msg->map() == nullptr) break;
    std::string_view op = OpOf(*msg);
    if (op == kCloseCommOp) break;
    RpcOutcome out = co_await HandleRpc(conn, *msg);
    const Value* rf = msg->Find("reply");
    bool wants_reply = !(rf && rf->is<bool>() && !*rf->get_if<bool>());
    if (out.reply && wants_reply) conn->Send(*out.reply);
    if (out.close_comm) break;
  }
  conn->CloseAfterFlush();  // a reply may still be queued
}

// The `call_stack` RPC (Client.call_stack), as stock's Worker.get_call_stack: for each
// running task among `keys` (all if nil), what its thread is doing, outermost frame
// first. Python tasks report their frames, taken on the service thread while the task
// runs; a native kernel has no Python frames and reports one line naming it.
awaitable<Value> WorkerServer::CallStack(Value msg) {
  std::optional<std::vector<Key>> wanted;
  if (const Value* k = msg.Find("keys"); k && k->array()) wanted = KeysFromValue(k);
  Map out;
  std::vector<Key> python_keys;
  const double now = WallTime();
  for (const auto& [key, run] : running_) {
    if (!run.started) continue;
    if (wanted && std::find(wanted->begin(), wanted->end(), key) == wanted->end()) continue;
    if (run.python) {
      python_keys.push_back(key);
      continue;
    }
    char line[160];
    std::snprintf(line, sizeof line,
                  "  File \"dask-native-worker\", line 0, in native kernel\n\t%s, running for "
                  "%.1f s",
                  KeySplit(key).c_str(), now - run.started_at);
    out.push_back({key.ToValue(), Value(Array{Value(std::string(line))})});
  }
  if (!python_keys.empty()) {
    std::function<Result<Value>()> job = [this, python_keys] {
      return python_->CallStacks(python_keys);
    };
    Result<Value> stacks = co_await InPython<Result<Value>>(std::move(job));
    if (stacks.ok() && stacks->array()) {
      for (const Value& entry : *stacks->array()) {
        const Array* pair = entry.array();
        if (pair && pair->size() == 2) out.push_back({(*pair)[0], (*pair)[1]});
      }
    } else if (!stacks.ok()) {
      std::fprintf(stderr, "dask-native-worker: call_stack: %s\n",
                   stacks.status().ToString().c_str());
    }
  }
  co_return Value(std::move(out));
}

awaitable<Value> WorkerServer::GetDataReply(Value msg) {
  Map data;
  for (const Key& k : KeysFromValue(msg.Find("keys"))) {
    if (!store_.Contains(k)) continue;  // keys we lack are simply missing, as stock
    Result<Serialized> s = co_await SerializeStored(k);
    if (!s.ok()) {
      std::fprintf(stderr, "dask-native-worker: cannot send %s: %s\n", k.Repr().c_str(),
                   s.status().ToString().c_str());
      continue;
    }
    data.push_back(MapEntry{k.ToValue(), Value(s.MoveValueUnsafe())});
  }
  Map reply;
  reply.push_back(MapEntry{Value("status"), Value("OK")});
  reply.push_back(MapEntry{Value("data"), Value(std::move(data))});
  co_return Value(std::move(reply));
}

awaitable<Value> WorkerServer::UpdateData(Value msg) {
  Map nbytes;
  std::vector<std::pair<Key, int64_t>> stored;
  const Value* d = msg.Find("data");
  if (d != nullptr && d->map() != nullptr) {
    for (const MapEntry& e : *d->map()) {
      auto k = Key::FromValue(e.key);
      const Serialized* s = e.value.get_if<Serialized>();
      if (!k.ok() || s == nullptr) continue;
      Key key = *k;
      Result<int64_t> n = co_await StoreReceived(key, *s);
      if (!n.ok()) continue;
      stored.emplace_back(key, *n);
      nbytes.push_back(MapEntry{e.key, Value(*n)});
    }
  }
  if (!stored.empty()) {
    worker::UpdateDataEvent ev;
    ev.data = stored;
    worker::Instructions instructions =
        state_.Handle(WithStimulus(std::move(ev), Stimulus("update-data")));
    SettleStored(stored);
    MaybeSpill(0);
    Carry(std::move(instructions));
  }
  Map reply;
  reply.push_back(MapEntry{Value("nbytes"), Value(std::move(nbytes))});
  reply.push_back(MapEntry{Value("status"), Value("OK")});
  co_return Value(std::move(reply));
}

// The `gather` RPC (Scheduler.replicate / scatter(broadcast=True) on a stock
// scheduler): copy keys from the holders given, trying each holder in turn. Replies
// {"status": "OK"} or {"status": "partial-fail", "keys": [...]}, as Worker.gather.
awaitable<Value> WorkerServer::GatherRpc(Value msg) {
  std::vector<std::pair<Key, std::vector<std::string>>> wanted;
  if (const Value* who = msg.Find("who_has"); who && who->map()) {
    for (const MapEntry& e : *who->map()) {
      auto k = Key::FromValue(e.key);
      if (!k.ok() || store_.Contains(*k)) continue;
      std::vector<std::string> holders;
      if (const Array* a = e.value.array()) {
        for (const Value& h : *a) {
          if (const std::string* s = h.str(); s && *s != address_) holders.push_back(*s);
        }
      }
      wanted.emplace_back(*k, std::move(holders));
    }
  }
  for (size_t attempt = 0; !wanted.empty(); ++attempt) {
    std::unordered_map<std::string, std::vector<Key>> by_peer;
    for (const auto& [k, holders] : wanted) {
      if (attempt < holders.size()) by_peer[holders[attempt]].push_back(k);
    }
    if (by_peer.empty()) break;
    for (auto& [peer, keys] : by_peer) {
      Result<Value> reply = co_await GetData(peer, keys);
      const Value* d = reply.ok() ? reply->Find("data") : nullptr;
      if (d == nullptr || d->map() == nullptr) continue;
      for (const Key& k : keys) {
        const Value* v = FindKeyValue(*d->map(), k.ToValue());
        const Serialized* s = v ? v->get_if<Serialized>() : nullptr;
        if (s == nullptr || store_.Contains(k)) continue;
        Result<int64_t> n = co_await StoreReceived(k, *s);
        if (!n.ok()) continue;
        worker::UpdateDataEvent ev;
        ev.data = {{k, *n}};
        worker::Instructions instructions =
            state_.Handle(WithStimulus(std::move(ev), Stimulus("gather")));
        SettleStored({{k, *n}});
        MaybeSpill(0);
        Carry(std::move(instructions));
      }
    }
    std::erase_if(wanted, [this](const auto& w) { return store_.Contains(w.first); });
  }
  if (wanted.empty()) co_return Value(Map{{Value("status"), Value("OK")}});
  Array failed;
  for (const auto& [k, holders] : wanted) failed.push_back(k.ToValue());
  co_return Value(
      Map{{Value("status"), Value("partial-fail")}, {Value("keys"), Value(std::move(failed))}});
}

awaitable<Value> WorkerServer::RunFunction(Value msg) {
  Buffer parts[3];
  const char* names[3] = {"function", "args", "kwargs"};
  for (int i = 0; i < 3; ++i) {
    const Value* v = msg.Find(names[i]);
    const Bin* b = v ? v->get_if<Bin>() : nullptr;
    if (b != nullptr) parts[i] = b->data;
  }
  Buffer fn = parts[0], args = parts[1], kwargs = parts[2];
  std::function<Result<PySerialized>()> job = [this, fn, args, kwargs] {
    return python_->RunFunction(fn, args, kwargs);
  };
  Result<PySerialized> r = co_await InPython<Result<PySerialized>>(std::move(job));
  if (!r.ok()) co_return ErrorMessage(r.status().message(), "error");
  Serialized value;
  value.header = std::move(r->header);
  value.frames = std::move(r->frames);
  Map reply;
  reply.push_back(MapEntry{Value("status"), Value("OK")});
  reply.push_back(MapEntry{Value("result"), Value(std::move(value))});
  co_return Value(std::move(reply));
}

}  // namespace dn
