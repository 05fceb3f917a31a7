#include "worker/server/worker_server.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "common/clock.h"
#include "protocol/comm/listener.h"
#include "protocol/serialize/bytes_serializer.h"

namespace dn {

namespace {

// Priorities are arrays of numbers compared lexicographically; lower runs first.
bool PriorityLess(const Value& a, const Value& b) {
  const Array* x = a.array();
  const Array* y = b.array();
  if (!x || !y) return false;
  for (size_t i = 0; i < x->size() && i < y->size(); ++i) {
    auto num = [](const Value& v) {
      if (const int64_t* i = v.get_if<int64_t>()) return static_cast<double>(*i);
      if (const double* d = v.get_if<double>()) return *d;
      return 0.0;
    };
    double p = num((*x)[i]), q = num((*y)[i]);
    if (p != q) return p < q;
  }
  return x->size() < y->size();
}

int64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * sysconf(_SC_PAGESIZE);
}

}  // namespace

WorkerServer::WorkerServer(asio::io_context& io, WorkerConfig config,
                           std::unique_ptr<PythonRuntime> python)
    : io_(io), config_(std::move(config)), python_(std::move(python)), acceptor_(io) {
  std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  std::snprintf(buf, sizeof buf, "Worker-%016llx", static_cast<unsigned long long>(rng()));
  server_id_ = buf;
}

WorkerServer::~WorkerServer() { python_.reset(); }

template <typename T>
awaitable<T> WorkerServer::InPython(std::function<T()> fn) {
  // The job runs on a Python thread; its result is posted here and a timer wakes us.
  auto done = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
  auto slot = std::make_shared<std::optional<T>>();
  python_->Post([this, fn = std::move(fn), done, slot]() mutable {
    T value = fn();
    asio::post(io_, [done, slot, value = std::move(value)]() mutable {
      slot->emplace(std::move(value));
      done->cancel();
    });
  });
  while (!slot->has_value()) {
    boost::system::error_code ec;
    co_await done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(**slot);
}

Status WorkerServer::Start() {
  DN_RETURN_NOT_OK(Listen(acceptor_, config_.listen_host, config_.listen_port));
  asio::co_spawn(io_, AcceptLoop(acceptor_, config_.limits, [this](auto conn) { return ServeComm(conn); }),
                 asio::detached);
  asio::co_spawn(io_, ConnectToScheduler(), asio::detached);
  return Status::OK();
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
                      {Value("stimulus_id"), Value("worker-close-" + std::to_string(WallTime()))},
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
  int64_t managed = 0;
  for (const auto& [k, n] : nbytes_) managed += n;
  return Value(Map{
      {Value("task_counts"), Value(Map{})},
      {Value("bandwidth"), Value(Map{{Value("total"), Value(100000000)},
                                     {Value("workers"), Value(Map{})},
                                     {Value("types"), Value(Map{})}})},
      {Value("digests_total_since_heartbeat"), Value(Map{})},
      {Value("managed_bytes"), Value(managed)},
      {Value("spilled_bytes"), Value(Map{{Value("memory"), Value(0)}, {Value("disk"), Value(0)}})},
      {Value("transfer"), Value(std::move(transfer))},
      {Value("event_loop_interval"), Value(0.02)},
      {Value("cpu"), Value(0.0)},
      {Value("memory"), Value(RssBytes())},
      {Value("time"), Value(WallTime())},
      {Value("host_net_io"), Value(Map{{Value("read_bps"), Value(0.0)}, {Value("write_bps"), Value(0.0)}})},
      {Value("host_disk_io"), Value(Map{{Value("read_bps"), Value(0.0)}, {Value("write_bps"), Value(0.0)}})},
      {Value("num_fds"), Value(0)}});
}

// Every field worker.py:_register_with_scheduler sends; add_worker is strict.
Value WorkerServer::RegisterMessage() const {
  return Value(Map{{Value("op"), Value("register-worker")},
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
                   {Value("stimulus_id"), Value("worker-connect-" + std::to_string(WallTime()))},
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
  conn->Send(RegisterMessage());
  Result<Value> reply = co_await conn->Read();
  const Value* status = reply.ok() ? reply->Find("status") : nullptr;
  if (!status || !status->str() || *status->str() != "OK") {
    std::fprintf(stderr, "dask-native-worker: registration refused: %s\n",
                 reply.ok() ? reply->ToDebugString().c_str() : reply.status().ToString().c_str());
    Stop();
    co_return;
  }
  std::fprintf(stderr, "dask-native-worker: registered to %s as %s\n",
               config_.scheduler_address.c_str(), address_.c_str());
  stream_ = conn;
  asio::co_spawn(io_, HeartbeatLoop(), asio::detached);
  co_await StreamLoop();
}

awaitable<void> WorkerServer::StreamLoop() {
  while (!stopping_) {
    Result<Array> batch = co_await ReadBatch(*stream_);
    if (!batch.ok()) break;
    for (const Value& m : *batch) {
      std::string_view op = OpOf(m);
      if (op == ComputeTask::kOp) {
        auto spec = ComputeTask::FromValue(m);
        if (spec.ok()) OnComputeTask(spec.MoveValueUnsafe());
      } else if (op == "free-keys") {
        OnFreeKeys(KeysFromValue(m.Find("keys")));
      } else if (op == "acquire-replicas") {
        // Copy keys from their holders (the scheduler retiring a worker); Fetch
        // reports them with add-keys.
        std::unordered_map<std::string, std::vector<Key>> by_peer;
        if (const Value* who = m.Find("who_has"); who && who->map()) {
          for (const MapEntry& e : *who->map()) {
            auto k = Key::FromValue(e.key);
            const Array* holders = e.value.array();
            if (!k.ok() || !holders || holders->empty() || data_.count(*k) || fetching_.count(*k)) continue;
            if (const std::string* peer = (*holders)[0].str()) {
              fetching_.insert(*k);
              by_peer[*peer].push_back(*k);
            }
          }
        }
        for (auto& [peer, keys] : by_peer) asio::co_spawn(io_, Fetch(peer, std::move(keys)), asio::detached);
      } else if (op == "close" || op == "close-stream") {
        Stop();
      }
      // remove-worker, steal-request, acquire-replicas...: not in this slice yet.
    }
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
    if (stream_ && !stream_batch_.empty()) stream_->Send(Value(std::exchange(stream_batch_, Array{})));
  });
}

void WorkerServer::OnComputeTask(ComputeTask spec) {
  Key key = spec.key;
  if (data_.count(key)) {
    TaskFinished f;
    f.key = key;
    f.run_id = spec.run_id;
    f.nbytes = nbytes_[key];
    f.stimulus_id = "task-finished-" + std::to_string(WallTime());
    SendToScheduler(f.ToValue());
    return;
  }
  auto task = std::make_unique<Task>();
  task->spec = std::move(spec);
  std::unordered_map<std::string, std::vector<Key>> by_peer;
  for (const auto& [dep, holders] : task->spec.who_has) {
    if (data_.count(dep)) continue;
    task->missing.insert(dep);
    if (fetching_.count(dep) || holders.empty()) continue;
    fetching_.insert(dep);
    by_peer[holders.front()].push_back(dep);
  }
  task->state = task->missing.empty() ? State::kReady : State::kFetching;
  if (task->state == State::kReady) ready_.push_back(key);
  tasks_[key] = std::move(task);
  for (auto& [peer, keys] : by_peer) asio::co_spawn(io_, Fetch(peer, std::move(keys)), asio::detached);
  Dispatch();
}

awaitable<Result<Value>> WorkerServer::GetData(const std::string& peer, const std::vector<Key>& keys) {
  auto hp = ParseTcpAddress(peer);
  if (!hp.ok()) co_return hp.status();
  auto dialed = co_await Connection::Dial(hp->first, hp->second, config_.limits);
  if (!dialed.ok()) co_return dialed.status();
  std::shared_ptr<Connection> conn = *dialed;
  Handshake local;
  auto hs = co_await conn->DoHandshake(local);
  if (!hs.ok()) co_return hs.status();
  Array wanted;
  for (const Key& k : keys) wanted.push_back(k.ToValue());
  Value request(Map{{Value("op"), Value("get_data")},
                    {Value("keys"), Value(std::move(wanted))},
                    {Value("who"), Value(address_)},
                    {Value("reply"), Value(true)}});
  Result<Value> reply = co_await conn->Request(request);
  if (reply.ok()) conn->Send(Value("OK"));  // get_data's second step
  conn->Close();
  co_return reply;
}

awaitable<void> WorkerServer::Fetch(std::string peer, std::vector<Key> keys) {
  Result<Value> reply = co_await GetData(peer, keys);
  const Map* data = nullptr;
  if (reply.ok()) {
    const Value* d = reply->Find("data");
    if (d != nullptr) data = d->map();
  }
  Array added;
  for (const Key& k : keys) {
    const Value* v = data ? FindKeyValue(*data, k.ToValue()) : nullptr;
    const Serialized* s = v ? v->get_if<Serialized>() : nullptr;
    fetching_.erase(k);
    if (s == nullptr) {
      std::fprintf(stderr, "dask-native-worker: %s did not send %s\n", peer.c_str(), k.Repr().c_str());
      continue;
    }
    Result<int64_t> stored = co_await StoreInPython(k, *s);
    if (!stored.ok()) {
      std::fprintf(stderr, "dask-native-worker: cannot store %s: %s\n", k.Repr().c_str(),
                   stored.status().ToString().c_str());
      continue;
    }
    nbytes_[k] = *stored;
    added.push_back(k.ToValue());
    OnStored(k);
  }
  if (!added.empty()) {
    SendToScheduler(Value(Map{{Value("op"), Value("add-keys")},
                              {Value("keys"), Value(std::move(added))},
                              {Value("stimulus_id"), Value("gather-dep-success-" + std::to_string(WallTime()))}}));
  }
}

awaitable<Result<int64_t>> WorkerServer::StoreInPython(Key key, Serialized value) {
  std::function<Result<int64_t>()> job = [this, key, value] { return python_->Put(key, value); };
  Result<int64_t> n = co_await InPython<Result<int64_t>>(std::move(job));
  co_return n;
}

void WorkerServer::OnStored(const Key& key) {
  data_.insert(key);
  for (auto& [k, task] : tasks_) {
    if (task->state == State::kFetching && task->missing.erase(key) && task->missing.empty()) {
      task->state = State::kReady;
      ready_.push_back(k);
    }
  }
  Dispatch();
}

void WorkerServer::Dispatch() {
  while (executing_ < config_.nthreads && !ready_.empty()) {
    auto best = ready_.begin();
    for (auto it = ready_.begin(); it != ready_.end(); ++it) {
      auto a = tasks_.find(*it), b = tasks_.find(*best);
      if (a != tasks_.end() && b != tasks_.end() && PriorityLess(a->second->spec.priority, b->second->spec.priority)) {
        best = it;
      }
    }
    Key key = *best;
    ready_.erase(best);
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second->state != State::kReady) continue;
    Task& task = *it->second;
    task.state = State::kExecuting;
    ++executing_;
    std::vector<Key> deps;
    for (const auto& [dep, holders] : task.spec.who_has) deps.push_back(dep);
    Pickled run_spec = task.spec.run_spec.value_or(Pickled{});
    int64_t run_id = task.spec.run_id;
    python_->Post([this, key, run_spec, deps, run_id] {
      PyTaskOutcome outcome = python_->Execute(key, run_spec, deps);
      asio::post(io_, [this, key, run_id, outcome = std::move(outcome)]() mutable {
        OnExecuted(key, run_id, std::move(outcome));
      });
    });
  }
}

void WorkerServer::OnExecuted(Key key, int64_t run_id, PyTaskOutcome outcome) {
  --executing_;
  StartStop ss{"compute", outcome.start, outcome.stop};
  std::string sid = std::to_string(WallTime());
  auto it = tasks_.find(key);
  if (outcome.ok) {
    data_.insert(key);
    nbytes_[key] = outcome.nbytes;
    if (it != tasks_.end()) it->second->state = State::kMemory;
    TaskFinished f;
    f.key = key;
    f.run_id = run_id;
    f.nbytes = outcome.nbytes;
    f.type = outcome.type_pickle;
    f.type_name = outcome.type_name;
    f.thread = Value(outcome.thread);
    f.startstops = {ss};
    f.stimulus_id = "task-finished-" + sid;
    SendToScheduler(f.ToValue());
    OnStored(key);
  } else {
    if (it != tasks_.end()) it->second->state = State::kError;
    TaskErred e;
    e.key = key;
    e.run_id = run_id;
    e.exception = outcome.exception_pickle.empty() ? Value(outcome.exception_text)
                                                   : Value(SerializeBytes(outcome.exception_pickle));
    e.traceback = outcome.traceback_pickle.empty() ? Value() : Value(SerializeBytes(outcome.traceback_pickle));
    e.exception_text = outcome.exception_text;
    e.traceback_text = outcome.traceback_text;
    e.thread = Value(outcome.thread);
    e.startstops = {ss};
    e.stimulus_id = "task-erred-" + sid;
    SendToScheduler(e.ToValue());
  }
  Dispatch();
}

void WorkerServer::OnFreeKeys(const std::vector<Key>& keys) {
  for (const Key& k : keys) {
    auto it = tasks_.find(k);
    if (it != tasks_.end() && it->second->state == State::kExecuting) continue;  // still runs
    tasks_.erase(k);
    std::erase(ready_, k);
    if (data_.erase(k)) {
      nbytes_.erase(k);
      python_->Post([this, k] { python_->Delete(k); });
    }
  }
}

// RPCs from the scheduler, peers and clients: get_data, update_data, run, versions.
awaitable<void> WorkerServer::ServeComm(std::shared_ptr<Connection> conn) {
  Handshake local;
  auto hs = co_await conn->DoHandshake(local);
  if (!hs.ok()) co_return;
  while (!conn->closed()) {
    Result<Value> msg = co_await conn->Read();
    if (!msg.ok() || msg->map() == nullptr) break;
    std::string_view op = OpOf(*msg);
    if (op == "get_data") {
      Value reply = co_await GetDataReply(*msg);
      conn->Send(reply);
      Result<Value> ack = co_await conn->Read();  // the caller's "OK"
      if (!ack.ok()) break;
      continue;
    }
    if (op == "close") break;
    Value reply;
    if (op == "update_data") {
      reply = co_await UpdateData(*msg);
    } else if (op == "run") {
      reply = co_await RunFunction(*msg);
    } else if (op == "versions") {
      reply = python_->versions();
    }
    const Value* rf = msg->Find("reply");
    bool wants_reply = !(rf && rf->is<bool>() && !*rf->get_if<bool>());
    if (wants_reply) conn->Send(reply);
  }
  conn->Close();
}

awaitable<Value> WorkerServer::GetDataReply(Value msg) {
  Map data;
  for (const Key& k : KeysFromValue(msg.Find("keys"))) {
    if (!data_.count(k)) continue;  // keys we lack are simply missing, as stock
    std::function<Result<PySerialized>()> job = [this, k] { return python_->Serialize(k); };
    Result<PySerialized> s = co_await InPython<Result<PySerialized>>(std::move(job));
    if (!s.ok()) continue;
    Serialized value;
    value.header = std::move(s->header);
    value.frames = std::move(s->frames);
    data.push_back(MapEntry{k.ToValue(), Value(std::move(value))});
  }
  Map reply;
  reply.push_back(MapEntry{Value("status"), Value("OK")});
  reply.push_back(MapEntry{Value("data"), Value(std::move(data))});
  co_return Value(std::move(reply));
}

awaitable<Value> WorkerServer::UpdateData(Value msg) {
  Map nbytes;
  const Value* d = msg.Find("data");
  if (d != nullptr && d->map() != nullptr) {
    for (const MapEntry& e : *d->map()) {
      auto k = Key::FromValue(e.key);
      const Serialized* s = e.value.get_if<Serialized>();
      if (!k.ok() || s == nullptr) continue;
      Key key = *k;
      Result<int64_t> n = co_await StoreInPython(key, *s);
      if (!n.ok()) continue;
      nbytes_[key] = *n;
      data_.insert(key);
      nbytes.push_back(MapEntry{e.key, Value(*n)});
    }
  }
  Map reply;
  reply.push_back(MapEntry{Value("nbytes"), Value(std::move(nbytes))});
  reply.push_back(MapEntry{Value("status"), Value("OK")});
  co_return Value(std::move(reply));
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
