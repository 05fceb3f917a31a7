#include "worker/server/worker_server.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "common/clock.h"
#include "common/page_pool.h"
#include "protocol/comm/listener.h"
#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/bytes_serializer.h"
#include "protocol/serialize/ndarray_serializer.h"
#include "worker/native/evaluator.h"
#include "worker/native/records.h"

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

// distributed.worker.memory defaults: spill managed data above `target`, spill by
// process memory above `spill`, pause above `pause` (the nanny's `terminate` at 95% is
// not implemented: see NOTES.md).
constexpr double kTargetFraction = 0.6;
constexpr double kSpillFraction = 0.7;
constexpr double kPauseFraction = 0.8;
// Freed chunk pages stay pooled for the next chunks (common/page_pool.h) up to half
// the memory limit (kPoolWithoutLimit for a worker without one), and go back to the
// system after this long unused.
constexpr double kPoolFraction = 0.5;
constexpr size_t kPoolWithoutLimit = size_t{2} << 30;
constexpr auto kPoolIdle = std::chrono::seconds(60);

// DN_TRACE_NATIVE=1 logs each native task's duration and why a task ran in Python.
bool TraceNative() {
  static const bool trace = std::getenv("DN_TRACE_NATIVE") != nullptr;
  return trace;
}

std::string Stimulus(std::string_view what) { return std::string(what) + "-" + std::to_string(WallTime()); }

int64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * sysconf(_SC_PAGESIZE);
}

}  // namespace

WorkerServer::WorkerServer(asio::io_context& io, WorkerConfig config,
                           std::unique_ptr<PythonRuntime> python)
    : io_(io),
      config_(std::move(config)),
      python_(std::move(python)),
      acceptor_(io),
      store_(config_.local_directory + "/dask-native-worker-" + std::to_string(getpid()) + "-storage") {
  // One native thread per task slot, but never more than the CPUs the process may use
  // (a 1-CPU pod running --nthreads 4 gets one), so kernels do not oversubscribe.
  executor_ = std::make_unique<native::NativeExecutor>(std::min(config_.nthreads, config_.cpu_limit));
  if (config_.memory_limit && *config_.memory_limit > 0) {
    PagePool::Global().SetCapacity(static_cast<size_t>(kPoolFraction * static_cast<double>(*config_.memory_limit)));
  } else {
    PagePool::Global().SetCapacity(kPoolWithoutLimit);
  }
  std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  std::snprintf(buf, sizeof buf, "Worker-%016llx", static_cast<unsigned long long>(rng()));
  server_id_ = buf;
}

WorkerServer::~WorkerServer() {
  // Native values may hold Python arrays (exported results): drop them while the
  // interpreter is alive, after the executor's jobs are done.
  executor_.reset();
  native_.clear();
  python_.reset();
}

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
  asio::co_spawn(io_, MemoryMonitor(), asio::detached);
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
  const PagePool& pool = PagePool::Global();
  return Value(Map{
      {Value("task_counts"), Value(Map{})},
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
      {Value("host_net_io"), Value(Map{{Value("read_bps"), Value(0.0)}, {Value("write_bps"), Value(0.0)}})},
      {Value("host_disk_io"), Value(Map{{Value("read_bps"), Value(0.0)}, {Value("write_bps"), Value(0.0)}})},
      {Value("num_fds"), Value(0)},
      // Ours (issue 5 observability): tasks run natively versus in the embedded Python.
      {Value("dask_native"), Value(Map{{Value("native_tasks"), Value(native_tasks_)},
                                       {Value("python_tasks"), Value(python_tasks_)},
                                       {Value("native_keys"), Value(static_cast<int64_t>(native_.size()))},
                                       {Value("pooled_bytes"), Value(static_cast<int64_t>(pool.pooled_bytes()))},
                                       {Value("pool_hits"), Value(static_cast<int64_t>(pool.hits()))},
                                       {Value("pool_misses"), Value(static_cast<int64_t>(pool.misses()))}})}});
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
  co_await StreamLoop();
}

awaitable<void> WorkerServer::StreamLoop() {
  while (!stopping_) {
    Result<Array> batch = co_await ReadBatch(*stream_);
    if (!batch.ok()) break;
    for (const Value& m : *batch) HandleStreamOp(m);
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

void WorkerServer::HandleStreamOp(const Value& m) {
  std::string_view op = OpOf(m);
  if (op == ComputeTask::kOp) {
    auto spec = ComputeTask::FromValue(m);
    if (spec.ok()) OnComputeTask(spec.MoveValueUnsafe());
  } else if (op == "free-keys") {
    OnFreeKeys(KeysFromValue(m.Find("keys")));
  } else if (op == "steal-request") {
    OnStealRequest(m);
  } else if (op == "cancel-compute") {
    // Best effort, as stock: only a task that has not started can be dropped.
    if (auto key = Key::FromValue(m.Find("key") ? *m.Find("key") : Value()); key.ok()) {
      auto it = tasks_.find(*key);
      if (it != tasks_.end() && (it->second->state == State::kReady || it->second->state == State::kFetching)) {
        ForgetTask(*key);
      }
    }
  } else if (op == "acquire-replicas" || op == "refresh-who-has") {
    // Copy keys from their holders (the scheduler retiring a worker), or learn new
    // holders of keys whose fetch failed.
    if (const Value* who = m.Find("who_has")) OnRefreshWhoHas(*who);
    if (op == "acquire-replicas") {
      if (const Value* who = m.Find("who_has"); who && who->map()) {
        for (const MapEntry& e : *who->map()) {
          auto k = Key::FromValue(e.key);
          if (!k.ok() || store_.Contains(*k) || fetching_.count(*k) || !e.value.array()) continue;
          std::vector<std::string> holders;
          for (const Value& h : *e.value.array()) {
            if (const std::string* s = h.str()) holders.push_back(*s);
          }
          ScheduleFetch(*k, holders);
        }
      }
    }
  } else if (op == "remove-replicas") {
    OnRemoveReplicas(KeysFromValue(m.Find("keys")));
  } else if (op == "remove-worker") {
    // A peer left: never fetch from it again.
    if (const Value* w = m.Find("worker"); w && w->str()) {
      for (auto& [k, task] : tasks_) {
        for (auto& [dep, holders] : task->spec.who_has) std::erase(holders, *w->str());
      }
    }
  } else if (op == "worker-status-change") {
    // closing_gracefully during retirement: the scheduler stops sending work itself.
  } else if (op == "close" || op == "close-stream") {
    Stop();
  }
}

void WorkerServer::OnComputeTask(ComputeTask spec) {
  Key key = spec.key;
  if (auto it = tasks_.find(key); it != tasks_.end() && it->second->state == State::kExecuting) {
    // Freed while running and now wanted again: report under the new run_id.
    it->second->cancelled = false;
    it->second->spec.run_id = spec.run_id;
    return;
  }
  if (std::optional<int64_t> n = store_.nbytes(key)) {
    TaskFinished f;
    f.key = key;
    f.run_id = spec.run_id;
    f.nbytes = *n;
    f.stimulus_id = Stimulus("task-finished");
    SendToScheduler(f.ToValue());
    return;
  }
  auto task = std::make_unique<Task>();
  task->spec = std::move(spec);
  for (const auto& [dep, holders] : task->spec.who_has) {
    if (store_.Contains(dep)) continue;
    if (task->missing.insert(dep).second) waiters_[dep].push_back(key);
    if (!fetching_.count(dep)) ScheduleFetch(dep, holders);
  }
  task->state = task->missing.empty() ? State::kReady : State::kFetching;
  if (task->state == State::kReady) ready_.push_back(key);
  tasks_[key] = std::move(task);
  Dispatch();
}

void WorkerServer::ScheduleFetch(const Key& key, const std::vector<std::string>& holders) {
  const auto& failed = failed_peers_[key];
  for (const std::string& peer : holders) {
    if (peer == address_ || failed.count(peer)) continue;
    fetching_.insert(key);
    pending_fetches_[peer].push_back(key);
    if (!fetch_flush_posted_) {
      fetch_flush_posted_ = true;
      asio::post(io_, [this] { FlushFetches(); });
    }
    return;
  }
  // Every known holder failed: ask the scheduler who else has it (it answers with
  // refresh-who-has, or frees the dependents if the data is gone).
  SendToScheduler(Value(Map{{Value("op"), Value("request-refresh-who-has")},
                            {Value("keys"), Value(Array{key.ToValue()})},
                            {Value("stimulus_id"), Value(Stimulus("gather-dep-failed"))}}));
}

void WorkerServer::FlushFetches() {
  fetch_flush_posted_ = false;
  for (auto& [peer, keys] : std::exchange(pending_fetches_, {})) {
    asio::co_spawn(io_, Fetch(peer, std::move(keys)), asio::detached);
  }
}

awaitable<std::shared_ptr<Connection>> WorkerServer::PeerConnection(const std::string& peer) {
  auto& idle = idle_peers_[peer];
  while (!idle.empty()) {
    std::shared_ptr<Connection> c = std::move(idle.back());
    idle.pop_back();
    if (!c->closed()) co_return c;
  }
  auto hp = ParseTcpAddress(peer);
  if (!hp.ok()) co_return nullptr;
  auto dialed = co_await Connection::Dial(hp->first, hp->second, config_.limits);
  if (!dialed.ok()) co_return nullptr;
  std::shared_ptr<Connection> conn = *dialed;
  Handshake local;
  if (!(co_await conn->DoHandshake(local)).ok()) co_return nullptr;
  co_return conn;
}

void WorkerServer::ReturnPeerConnection(const std::string& peer, std::shared_ptr<Connection> conn) {
  auto& idle = idle_peers_[peer];
  if (conn->closed() || idle.size() >= 4) {
    conn->CloseAfterFlush();  // the get_data "OK" ack may still be queued
    return;
  }
  idle.push_back(std::move(conn));
}

awaitable<Result<Value>> WorkerServer::GetData(const std::string& peer, const std::vector<Key>& keys) {
  std::shared_ptr<Connection> conn = co_await PeerConnection(peer);
  if (!conn) co_return Status::IOError("cannot connect to " + peer);
  Array wanted;
  for (const Key& k : keys) wanted.push_back(k.ToValue());
  Value request(Map{{Value("op"), Value("get_data")},
                    {Value("keys"), Value(std::move(wanted))},
                    {Value("who"), Value(address_)},
                    {Value("reply"), Value(true)}});
  Result<Value> reply = co_await conn->Request(request);
  if (!reply.ok()) {
    conn->Close();
    co_return reply;
  }
  conn->Send(Value("OK"));  // get_data's second step
  ReturnPeerConnection(peer, std::move(conn));
  co_return reply;
}

awaitable<void> WorkerServer::Fetch(std::string peer, std::vector<Key> keys) {
  Result<Value> reply = co_await GetData(peer, keys);
  const Map* data = nullptr;
  if (reply.ok()) {
    const Value* d = reply->Find("data");
    if (d != nullptr) data = d->map();
  } else {
    std::fprintf(stderr, "dask-native-worker: get_data from %s failed: %s\n", peer.c_str(),
                 reply.status().ToString().c_str());
  }
  Array added;
  for (const Key& k : keys) {
    const Value* v = data ? FindKeyValue(*data, k.ToValue()) : nullptr;
    const Serialized* s = v ? v->get_if<Serialized>() : nullptr;
    fetching_.erase(k);
    if (s == nullptr || store_.Contains(k)) {
      if (s == nullptr) {
        // Try another holder named by a task that needs it.
        failed_peers_[k].insert(peer);
        std::vector<std::string> holders;
        std::vector<Task*> waiting = TasksWaitingFor(k);
        bool needed = !waiting.empty();
        for (Task* task : waiting) {
          for (auto& [dep, h] : task->spec.who_has) {
            if (dep == k) holders.insert(holders.end(), h.begin(), h.end());
          }
        }
        if (needed && !fetching_.count(k)) ScheduleFetch(k, holders);
      }
      continue;
    }
    Result<int64_t> stored = co_await StoreReceived(k, *s);
    if (!stored.ok()) {
      std::fprintf(stderr, "dask-native-worker: cannot store %s: %s\n", k.Repr().c_str(),
                   stored.status().ToString().c_str());
      continue;
    }
    failed_peers_.erase(k);
    added.push_back(k.ToValue());
    OnStored(k, *stored);
  }
  if (!added.empty()) {
    SendToScheduler(Value(Map{{Value("op"), Value("add-keys")},
                              {Value("keys"), Value(std::move(added))},
                              {Value("stimulus_id"), Value(Stimulus("gather-dep-success"))}}));
  }
}

namespace {

// A plain numpy array from a 'dask'-serialized value, if the kernels know its dtype.
std::optional<native::NdArray> NativeArrayFrom(const Serialized& value) {
  const Value* ser = FindKeyValue(value.header, Value("serializer"));
  if (!ser || !ser->str() || *ser->str() != "dask") return std::nullopt;
  Result<NdarrayView> view = DeserializeNdarray(value);
  if (!view.ok() || view->meta.dtype_pickle || view->meta.dtype.empty() || view->meta.dtype[0] == '>') {
    return std::nullopt;
  }
  Result<native::DType> dt = native::ParseDType(view->meta.dtype);
  if (!dt.ok()) return std::nullopt;
  native::NdArray a;
  a.dtype = *dt;
  a.data = view->data;
  a.writeable = view->meta.writeable;
  if (view->meta.broadcast_to) {
    // One element per broadcast axis: view it through zero strides (numpy's broadcast_to).
    a.shape = *view->meta.broadcast_to;
    if (a.shape.size() != view->meta.shape.size()) return std::nullopt;
    a.strides.assign(a.shape.size(), 0);
    for (size_t i = 0; i < a.shape.size(); ++i) {
      if (view->meta.shape[i] == a.shape[i]) a.strides[i] = view->meta.strides[i];
      else if (view->meta.shape[i] != 1) return std::nullopt;
    }
    a.writeable = false;
  } else {
    a.shape = view->meta.shape;
    a.strides = view->meta.strides;
  }
  return a;
}

// A dict of plain arrays serialized as a collection (mean chunks), if every value is
// one the kernels know and no frame is compressed.
std::optional<native::NativeValue> NativeDictFrom(const Serialized& value) {
  auto find = [&](const char* k) { return FindKeyValue(value.header, Value(k)); };
  const Value* coll = find("is-collection");
  const Value* type = find("type-serialized");
  const Value* subs = find("sub-headers");
  const Value* lengths = find("frame-lengths");
  const Value* splits = find("split-num-sub-frames");
  const Value* offsets = find("split-offsets");
  const Value* compression = find("compression");
  if (!coll || !coll->is<bool>() || !*coll->get_if<bool>() || !type || !type->str() || *type->str() != "dict" ||
      !subs || !subs->array() || !lengths || !lengths->array() || !splits || !splits->array() || !offsets ||
      !offsets->array() || subs->array()->size() != lengths->array()->size()) {
    return std::nullopt;
  }
  if (compression && compression->array()) {
    for (const Value& c : *compression->array()) {
      if (!c.is_nil()) return std::nullopt;
    }
  }
  auto as_int = [](const Value& v) -> int64_t {
    if (const int64_t* i = v.get_if<int64_t>()) return *i;
    if (const uint64_t* u = v.get_if<uint64_t>()) return static_cast<int64_t>(*u);
    return -1;
  };
  native::NativeValue out;
  size_t frame = 0;  // index of the next original (unsplit) frame
  for (size_t i = 0; i < subs->array()->size(); ++i) {
    const Value& sub = (*subs->array())[i];
    const Value* name = sub.Find("key");
    int64_t count = as_int((*lengths->array())[i]);
    if (!sub.map() || !name || !name->str() || count < 0) return std::nullopt;
    Serialized item;
    Array comp, split_num, split_off;
    for (int64_t j = 0; j < count; ++j, ++frame) {
      if (frame >= splits->array()->size()) return std::nullopt;
      int64_t parts = as_int((*splits->array())[frame]), first = as_int((*offsets->array())[frame]);
      if (parts < 0 || first < 0 || static_cast<size_t>(first + parts) > value.frames.size()) return std::nullopt;
      split_num.push_back(Value(parts));
      split_off.push_back(Value(static_cast<int64_t>(item.frames.size())));
      for (int64_t k = 0; k < parts; ++k) {
        item.frames.push_back(value.frames[first + k]);
        comp.push_back(Value());
      }
    }
    for (const MapEntry& e : *sub.map()) {
      if (!(e.key.str() && *e.key.str() == "key")) item.header.push_back(e);
    }
    item.header.push_back(MapEntry{Value("compression"), Value(std::move(comp))});
    item.header.push_back(MapEntry{Value("split-num-sub-frames"), Value(std::move(split_num))});
    item.header.push_back(MapEntry{Value("split-offsets"), Value(std::move(split_off))});
    item.header.push_back(MapEntry{Value("num-sub-frames"), Value(static_cast<int64_t>(item.frames.size()))});
    std::optional<native::NdArray> a = NativeArrayFrom(item);
    if (!a) return std::nullopt;
    out.fields.emplace_back(*name->str(), std::move(*a));
  }
  if (out.fields.empty()) return std::nullopt;
  return out;
}

// A numpy scalar pickled as numpy pickles it (what a full reduction returns, sent by a
// stock or a native worker): REDUCE(numpy._core.multiarray.scalar, (dtype, bytes)).
// Kept native, the tasks that take it (finalize, a tree's last step) do not enter
// Python on a worker other than the one that computed it.
std::optional<native::NdArray> NativeScalarFrom(const Serialized& value) {
  const Value* ser = FindKeyValue(value.header, Value("serializer"));
  if (!ser || !ser->str() || *ser->str() != "pickle" || value.frames.size() != 1) return std::nullopt;
  Result<PickleTree> tree = ReadPickle(value.frames[0]);
  if (!tree.ok()) return std::nullopt;
  std::optional<NumpyScalarPickle> scalar = MatchNumpyScalar(*tree);
  if (!scalar || scalar->byteorder == ">") return std::nullopt;
  Result<native::DType> dt = native::ParseDType(scalar->dtype_name);
  if (!dt.ok() || static_cast<int64_t>(scalar->raw.size()) != native::ItemSize(*dt)) return std::nullopt;
  native::NdArray a;
  a.dtype = *dt;
  a.data = Buffer::CopyFrom(scalar->raw.view());
  a.scalar = true;
  a.writeable = false;
  return a;
}

}  // namespace

awaitable<Result<int64_t>> WorkerServer::StoreReceived(Key key, Serialized value) {
  // Plain numpy arrays (and dicts of them, and the structured arrays of dask's arg
  // reductions) stay native, so a tree reduction across workers never enters Python;
  // anything else goes to Python.
  std::optional<native::NativeValue> v;
  if (std::optional<native::NdArray> a = NativeArrayFrom(value)) {
    v = native::NativeValue{std::move(*a), {}};
  } else if (std::optional<native::NdArray> scalar = NativeScalarFrom(value)) {
    v = native::NativeValue{std::move(*scalar), {}};
  } else if (std::optional<native::NativeValue> records = native::RecordsFrom(value)) {
    v = std::move(records);
  } else {
    v = NativeDictFrom(value);
  }
  if (v) {
    int64_t n = v->Sizeof();
    native_[key] = std::move(*v);
    python_->Post([this, key] { python_->Delete(key); });  // a stale Python copy, if any
    co_return n;
  }
  native_.erase(key);
  Result<int64_t> n = co_await StoreInPython(key, std::move(value));
  co_return n;
}

// The wire form of a native value, as a stock worker would send it: arrays with the
// 'dask' numpy serializer, numpy scalars pickled as numpy pickles them.
Result<Serialized> WorkerServer::SerializeNative(const native::NativeValue& v) const {
  if (v.records) return native::SerializeRecords(v);
  if (!v.is_dict()) return SerializeArray(v.array);
  // A dict of arrays, as distributed serializes a collection: one sub-header per value
  // (with its key), the frames of all values in order, frame counts per value.
  Array sub_headers, frame_lengths, compression, split_num, split_offsets;
  Serialized out;
  for (const auto& [name, a] : v.fields) {
    DN_ASSIGN_OR_RETURN(Serialized s, SerializeArray(a));
    Map sub;
    sub.push_back(MapEntry{Value("key"), Value(name)});
    for (const MapEntry& e : s.header) {
      const std::string* k = e.key.str();
      if (k && (*k == "compression" || *k == "split-num-sub-frames" || *k == "split-offsets" ||
                *k == "num-sub-frames")) {
        continue;
      }
      sub.push_back(e);
    }
    sub_headers.push_back(Value(std::move(sub)));
    frame_lengths.push_back(Value(static_cast<int64_t>(s.frames.size())));
    for (Buffer& f : s.frames) {
      split_num.push_back(Value(1));
      split_offsets.push_back(Value(static_cast<int64_t>(out.frames.size())));
      compression.push_back(Value());
      out.frames.push_back(std::move(f));
    }
  }
  int64_t nframes = static_cast<int64_t>(out.frames.size());
  out.header = Map{{Value("sub-headers"), Value(std::move(sub_headers))},
                   {Value("is-collection"), Value(true)},
                   {Value("frame-lengths"), Value(std::move(frame_lengths))},
                   {Value("type-serialized"), Value("dict")},
                   {Value("compression"), Value(std::move(compression))},
                   {Value("split-num-sub-frames"), Value(std::move(split_num))},
                   {Value("split-offsets"), Value(std::move(split_offsets))},
                   {Value("num-sub-frames"), Value(nframes)}};
  return out;
}

Result<Serialized> WorkerServer::SerializeArray(const native::NdArray& a) const {
  if (a.scalar) {
    std::string raw(reinterpret_cast<const char*>(a.data.data()), static_cast<size_t>(native::ItemSize(a.dtype)));
    std::string_view str = native::DTypeStr(a.dtype);
    std::string pickle = PickleNumpyScalar("numpy._core.multiarray", str.substr(1), str.substr(0, 1), raw, 5);
    Serialized s;
    s.header = Map{{Value("serializer"), Value("pickle")},
                   {Value("writeable"), Value(Array{})},
                   {Value("split-num-sub-frames"), Value(Array{Value(1)})},
                   {Value("split-offsets"), Value(Array{Value(0)})},
                   {Value("compression"), Value(Array{Value()})},
                   {Value("num-sub-frames"), Value(1)}};
    s.frames.push_back(Buffer::FromString(std::move(pickle)));
    return s;
  }
  NdarrayMeta meta;
  bool all_broadcast = a.ndim() > 0 && a.size() > 0;
  for (int64_t st : a.strides) all_broadcast = all_broadcast && st == 0;
  if (all_broadcast) {
    // One element seen through zero strides (da.ones chunks): sent as stock does, one
    // element plus `broadcast_to`.
    meta.dtype = std::string(native::DTypeStr(a.dtype));
    meta.shape.assign(a.shape.size(), 1);
    meta.strides.assign(a.shape.size(), 0);
    meta.writeable = false;
    meta.broadcast_to = a.shape;
    return SerializeNdarray(meta, a.data.Slice(0, static_cast<size_t>(native::ItemSize(a.dtype))));
  }
  native::NdArray c = native::AsCContiguous(a);
  meta.dtype = std::string(native::DTypeStr(c.dtype));
  meta.shape = c.shape;
  meta.strides = c.strides;
  meta.writeable = true;
  return SerializeNdarray(meta, c.data.Slice(0, static_cast<size_t>(c.nbytes())));
}

awaitable<Result<int64_t>> WorkerServer::StoreInPython(Key key, Serialized value) {
  std::function<Result<int64_t>()> job = [this, key, value] { return python_->Put(key, value); };
  Result<int64_t> n = co_await InPython<Result<int64_t>>(std::move(job));
  co_return n;
}

void WorkerServer::OnStored(const Key& key, int64_t nbytes) {
  store_.PutInMemory(key, nbytes);
  if (auto w = waiters_.find(key); w != waiters_.end()) {
    std::vector<Key> waiting = std::move(w->second);
    waiters_.erase(w);
    for (const Key& k : waiting) {
      auto it = tasks_.find(k);
      if (it == tasks_.end()) continue;
      Task& task = *it->second;
      if (task.state == State::kFetching && task.missing.erase(key) && task.missing.empty()) {
        task.state = State::kReady;
        ready_.push_back(k);
      }
    }
  }
  MaybeSpill(0);
  Dispatch();
}

void WorkerServer::Dispatch() {
  if (paused_) return;
  // Best priority first; a task whose inputs are on disk waits for them to be read
  // back (started here) and the next one runs meanwhile.
  std::sort(ready_.begin(), ready_.end(), [this](const Key& a, const Key& b) {
    auto x = tasks_.find(a), y = tasks_.find(b);
    if (x == tasks_.end() || y == tasks_.end()) return x != tasks_.end();
    return PriorityLess(x->second->spec.priority, y->second->spec.priority);
  });
  for (size_t i = 0; i < ready_.size() && executing_ < config_.nthreads;) {
    Key key = ready_[i];
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second->state != State::kReady) {
      ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    Task& task = *it->second;
    bool inputs_in_memory = true;
    for (const auto& [dep, holders] : task.spec.who_has) {
      std::optional<Residence> r = store_.residence(dep);
      if (r == Residence::kMemory) continue;
      inputs_in_memory = false;
      if (r == Residence::kDisk) Unspill(dep);
    }
    if (!inputs_in_memory) {
      ++i;
      continue;
    }
    ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
    task.state = State::kExecuting;
    ++executing_;
    for (const auto& [dep, holders] : task.spec.who_has) {
      Pin(dep);
      store_.Touch(dep);
    }
    bool all_native = task.spec.run_spec.has_value();
    for (const auto& [dep, holders] : task.spec.who_has) all_native = all_native && native_.count(dep);
    if (all_native) {
      RunNative(key);
    } else {
      RunPython(key);
    }
  }
}

// Native first: the run_spec is read by the protocol's pickle reader and evaluated in
// C++ on the executor; a task it does not recognise goes to Python unchanged.
void WorkerServer::RunNative(const Key& key) {
  Task& task = *tasks_.at(key);
  std::vector<Key> deps;
  auto values = std::make_shared<std::unordered_map<Key, native::NativeValue, KeyHash>>();
  for (const auto& [dep, holders] : task.spec.who_has) {
    deps.push_back(dep);
    values->emplace(dep, native_.at(dep));
  }
  Pickled run_spec = *task.spec.run_spec;
  int64_t run_id = task.spec.run_id;
  executor_->Post([this, key, run_spec, deps, values, run_id] {
    double start = WallTime();
    Result<native::NativeValue> out = Status::NotImplemented("unparsed");
    Result<PickleTree> tree = ReadPickle(run_spec.pickled_obj(), run_spec.frames);
    if (tree.ok()) {
      out = native::EvaluateRunSpec(*tree, [&values](const Key& k) -> const native::NativeValue* {
        auto it = values->find(k);
        return it == values->end() ? nullptr : &it->second;
      });
    }
    double stop = WallTime();
    if (TraceNative()) std::fprintf(stderr, "native %s %.2f ms at %.4f\n", key.Repr().c_str(), (stop - start) * 1e3, stop);
    asio::post(io_, [this, key, run_id, deps, out = std::move(out), start, stop]() mutable {
      if (out.ok()) {
        OnNativeExecuted(key, run_id, std::move(deps), out.MoveValueUnsafe(), start, stop);
        return;
      }
      if (TraceNative()) {
        std::fprintf(stderr, "python %s: %s\n", key.Repr().c_str(), out.status().ToString().c_str());
      }
      if (out.status().code() != StatusCode::kNotImplemented) {
        std::fprintf(stderr, "dask-native-worker: native evaluation of %s failed (%s); running it in Python\n",
                     key.Repr().c_str(), out.status().ToString().c_str());
      }
      if (tasks_.count(key)) {
        RunPython(key);
      } else {
        --executing_;
        for (const Key& d : deps) Unpin(d);
        Dispatch();
      }
    });
  });
}

void WorkerServer::RunPython(const Key& key) {
  Task& task = *tasks_.at(key);
  std::vector<Key> deps;
  // Native inputs Python needs to see: one unnamed array, or a dict's named arrays.
  std::vector<std::pair<Key, std::vector<std::pair<std::string, PyArrayView>>>> exports;
  for (const auto& [dep, holders] : task.spec.who_has) {
    deps.push_back(dep);
    if (auto it = native_.find(dep); it != native_.end()) {
      auto view = [](const native::NdArray& a) {
        return PyArrayView{a.data, std::string(native::DTypeStr(a.dtype)), a.shape, a.strides, a.scalar};
      };
      if (it->second.records) {
        // A structured array: numpy views its packed records with the dtype rebuilt
        // from the descr text (worker_runtime.put_array).
        const std::vector<native::RecordField> fields = native::RecordFields(it->second);
        const std::vector<int64_t>& shape = it->second.fields[0].second.shape;
        PyArrayView records{native::PackRecords(it->second), native::RecordsDescr(fields), shape,
                            native::NdArray::CStrides(shape, native::RecordSize(fields)), false};
        exports.emplace_back(dep, std::vector<std::pair<std::string, PyArrayView>>{{"", std::move(records)}});
      } else if (!it->second.is_dict()) {
        exports.emplace_back(dep, std::vector<std::pair<std::string, PyArrayView>>{{"", view(it->second.array)}});
      } else {
        std::vector<std::pair<std::string, PyArrayView>> fields;
        for (const auto& [name, a] : it->second.fields) fields.emplace_back(name, view(a));
        exports.emplace_back(dep, std::move(fields));
      }
    }
  }
  Pickled run_spec = task.spec.run_spec.value_or(Pickled{});
  int64_t run_id = task.spec.run_id;
  python_->Post([this, key, run_spec, deps, exports, run_id] {
    PyTaskOutcome outcome;
    Status exported;
    for (const auto& [k, fields] : exports) {
      exported = fields.size() == 1 && fields[0].first.empty() ? python_->PutArray(k, fields[0].second)
                                                               : python_->PutDict(k, fields);
      if (!exported.ok()) break;
    }
    std::optional<PyArrayView> array;
    if (exported.ok()) {
      outcome = python_->Execute(key, run_spec, deps);
      // A plain ndarray result is shared with the native side (no copy), so native
      // tasks downstream of a Python task still run natively.
      if (outcome.ok) {
        Result<PyArrayView> v = python_->ExportArray(key);
        if (v.ok()) array = v.MoveValueUnsafe();
      }
    } else {
      outcome.exception_text = exported.ToString();
    }
    asio::post(io_, [this, key, run_id, deps, outcome = std::move(outcome), array = std::move(array)]() mutable {
      if (array && outcome.ok) {
        Result<native::DType> dt = native::ParseDType(array->dtype);
        if (dt.ok()) {
          native::NdArray a;
          a.dtype = *dt;
          a.shape = std::move(array->shape);
          a.strides = std::move(array->strides);
          a.data = std::move(array->data);
          if (tasks_.count(key) && !tasks_.at(key)->cancelled) native_[key] = native::NativeValue{std::move(a), {}};
        }
      }
      OnExecuted(key, run_id, std::move(deps), std::move(outcome));
    });
  });
}

void WorkerServer::OnNativeExecuted(Key key, int64_t run_id, std::vector<Key> deps, native::NativeValue value,
                                    double start, double stop) {
  --executing_;
  ++native_tasks_;
  for (const Key& d : deps) Unpin(d);
  auto it = tasks_.find(key);
  if (it != tasks_.end()) run_id = it->second->spec.run_id;
  if (it == tasks_.end() || it->second->cancelled) {
    if (it != tasks_.end()) tasks_.erase(it);
    Dispatch();
    return;
  }
  it->second->state = State::kMemory;
  TaskFinished f;
  f.key = key;
  f.run_id = run_id;
  f.nbytes = value.Sizeof();
  if (value.is_dict()) {
    f.type = Buffer::FromString(PickleGlobalRef("builtins", "dict"));
    f.type_name = "dict";
  } else {
    std::string type_name =
        value.array.scalar ? std::string(native::DTypeScalarName(value.array.dtype)) : "ndarray";
    f.type = Buffer::FromString(PickleGlobalRef("numpy", type_name));
    f.type_name = "numpy." + type_name;
  }
  f.thread = Value(int64_t{0});
  f.startstops = {StartStop{"compute", start, stop}};
  f.stimulus_id = Stimulus("task-finished");
  SendToScheduler(f.ToValue());
  int64_t nbytes = value.Sizeof();
  native_[key] = std::move(value);
  OnStored(key, nbytes);
}

void WorkerServer::OnExecuted(Key key, int64_t run_id, std::vector<Key> deps, PyTaskOutcome outcome) {
  --executing_;
  ++python_tasks_;
  for (const Key& d : deps) Unpin(d);
  auto it = tasks_.find(key);
  if (it != tasks_.end()) run_id = it->second->spec.run_id;  // may be newer (resumed)
  if (it == tasks_.end() || it->second->cancelled) {
    // Freed while it ran: nobody wants the result.
    if (it != tasks_.end()) tasks_.erase(it);
    if (outcome.ok && !store_.Contains(key)) python_->Post([this, key] { python_->Delete(key); });
    Dispatch();
    return;
  }
  StartStop ss{"compute", outcome.start, outcome.stop};
  std::string sid = std::to_string(WallTime());
  if (outcome.ok) {
    it->second->state = State::kMemory;
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
    OnStored(key, outcome.nbytes);
  } else {
    it->second->state = State::kError;
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

void WorkerServer::ForgetTask(const Key& key) {
  auto it = tasks_.find(key);
  if (it != tasks_.end() && it->second->state == State::kExecuting) {
    it->second->cancelled = true;  // OnExecuted drops it
    return;
  }
  if (it != tasks_.end()) {
    for (const Key& dep : it->second->missing) {
      auto w = waiters_.find(dep);
      if (w == waiters_.end()) continue;
      std::erase(w->second, key);
      if (w->second.empty()) waiters_.erase(w);
    }
    tasks_.erase(it);
  }
  std::erase(ready_, key);
}

std::vector<WorkerServer::Task*> WorkerServer::TasksWaitingFor(const Key& dep) {
  std::vector<Task*> out;
  auto w = waiters_.find(dep);
  if (w == waiters_.end()) return out;
  for (const Key& k : w->second) {
    auto it = tasks_.find(k);
    if (it == tasks_.end() || it->second->state != State::kFetching || !it->second->missing.count(dep)) continue;
    // A task the scheduler sent again is listed twice.
    if (std::find(out.begin(), out.end(), it->second.get()) == out.end()) out.push_back(it->second.get());
  }
  return out;
}

void WorkerServer::ReleaseData(const Key& key) {
  if (!store_.Erase(key)) return;
  pins_.erase(key);
  native_.erase(key);
  spilled_native_.erase(key);
  python_->Post([this, key] { python_->Delete(key); });
  SendToScheduler(Value(Map{{Value("op"), Value("release-worker-data")},
                            {Value("key"), key.ToValue()},
                            {Value("stimulus_id"), Value(Stimulus("free-keys"))}}));
}

void WorkerServer::OnFreeKeys(const std::vector<Key>& keys) {
  for (const Key& k : keys) {
    ForgetTask(k);
    // Data a running task still reads is dropped from the books now; Python frees the
    // object after the task's own reference goes.
    ReleaseData(k);
  }
}

// Work stealing (distributed/stealing.py): a task that has not started may be taken
// away; the reply names its state so the scheduler knows whether the steal happened.
void WorkerServer::OnStealRequest(const Value& msg) {
  const Value* kv = msg.Find("key");
  auto key = Key::FromValue(kv ? *kv : Value());
  if (!key.ok()) return;
  Value state;
  auto it = tasks_.find(*key);
  if (it != tasks_.end()) {
    switch (it->second->state) {
      case State::kFetching: state = Value("waiting"); break;
      case State::kReady: state = Value("ready"); break;
      case State::kExecuting: state = Value("executing"); break;
      case State::kMemory: state = Value("memory"); break;
      case State::kError: state = Value("error"); break;
    }
    if (it->second->state == State::kFetching || it->second->state == State::kReady) ForgetTask(*key);
  } else if (store_.Contains(*key)) {
    state = Value("memory");
  }
  const Value* sid = msg.Find("stimulus_id");
  SendToScheduler(Value(Map{{Value("op"), Value("steal-response")},
                            {Value("key"), key->ToValue()},
                            {Value("state"), std::move(state)},
                            {Value("stimulus_id"), sid ? *sid : Value(Stimulus("steal"))}}));
}

// The scheduler dropping a replica (active memory manager): keys still needed here
// stay and are announced back with add-keys, as stock workers do.
void WorkerServer::OnRemoveReplicas(const std::vector<Key>& keys) {
  Array kept;
  for (const Key& k : keys) {
    bool needed = Pinned(k);
    for (auto& [tk, task] : tasks_) {
      if (task->state == State::kMemory || task->state == State::kError) continue;
      for (const auto& [dep, holders] : task->spec.who_has) needed = needed || dep == k;
    }
    if (auto it = tasks_.find(k); it != tasks_.end() && it->second->state == State::kExecuting) needed = true;
    if (needed) {
      if (store_.Contains(k)) kept.push_back(k.ToValue());
      continue;
    }
    ForgetTask(k);
    ReleaseData(k);
  }
  if (!kept.empty()) {
    SendToScheduler(Value(Map{{Value("op"), Value("add-keys")},
                              {Value("keys"), Value(std::move(kept))},
                              {Value("stimulus_id"), Value(Stimulus("remove-replicas"))}}));
  }
}

void WorkerServer::OnRefreshWhoHas(const Value& who_has) {
  const Map* m = who_has.map();
  if (m == nullptr) return;
  for (const MapEntry& e : *m) {
    auto k = Key::FromValue(e.key);
    if (!k.ok() || !e.value.array()) continue;
    std::vector<std::string> holders;
    for (const Value& h : *e.value.array()) {
      if (const std::string* s = h.str()) holders.push_back(*s);
    }
    std::vector<Task*> waiting = TasksWaitingFor(*k);
    bool needed = !waiting.empty();
    for (Task* task : waiting) {
      for (auto& [dep, h] : task->spec.who_has) {
        if (dep == *k) h = holders;
      }
    }
    failed_peers_.erase(*k);
    if (needed && !fetching_.count(*k) && !store_.Contains(*k)) ScheduleFetch(*k, holders);
  }
}

void WorkerServer::Unpin(const Key& key) {
  auto it = pins_.find(key);
  if (it != pins_.end() && --it->second <= 0) pins_.erase(it);
}

// --- memory management ------------------------------------------------------------

void WorkerServer::MaybeSpill(int64_t rss) {
  if (!config_.memory_limit || *config_.memory_limit <= 0) return;
  const double limit = static_cast<double>(*config_.memory_limit);
  int64_t target = static_cast<int64_t>(kTargetFraction * limit);
  // Managed data above the target, and process memory above the spill threshold
  // (unmanaged memory counts there, as in stock), both spill down to the target.
  int64_t excess = store_.memory_bytes() - spilling_bytes_ - target;
  if (rss > static_cast<int64_t>(kSpillFraction * limit) && spilling_bytes_ == 0) {
    excess = std::max(excess, rss - target);
  }
  if (excess <= 0) return;
  // Numpy scalars (32 bytes) are never worth a file; nor are the small dicts and
  // structured arrays of reduction partials (Unspill reads back plain arrays only).
  auto keep = [this](const Key& k) {
    auto it = native_.find(k);
    return Pinned(k) || (it != native_.end() && (it->second.array.scalar || !it->second.fields.empty()));
  };
  for (const Key& k : store_.SpillCandidates(excess, keep)) {
    Spill(k);
  }
}

void WorkerServer::Spill(const Key& key) {
  store_.BeginSpill(key);
  int64_t nbytes = store_.nbytes(key).value_or(0);
  spilling_bytes_ += nbytes;
  std::string path = store_.PathFor(key);
  auto done = [this, key, path, nbytes](Result<int64_t> written, bool was_native) {
    asio::post(io_, [this, key, path, nbytes, written, was_native] {
      spilling_bytes_ -= nbytes;
      if (!store_.Contains(key)) {
        std::remove(path.c_str());  // freed meanwhile
      } else if (written.ok()) {
        store_.FinishSpill(key, *written);
        if (was_native) {
          native_.erase(key);
          spilled_native_.insert(key);
          python_->Post([this, key] { python_->Delete(key); });  // an exported result's original
        }
      } else {
        std::fprintf(stderr, "dask-native-worker: cannot spill %s: %s\n", key.Repr().c_str(),
                     written.status().ToString().c_str());
        store_.AbortSpill(key);
        pins_[key] += 1 << 20;  // never try this one again
      }
      Dispatch();
    });
  };
  if (auto it = native_.find(key); it != native_.end()) {
    Result<Serialized> value = SerializeNative(it->second);
    executor_->Post([path, value = std::move(value), done] {
      done(value.ok() ? DataStore::WriteSpillFile(path, *value) : Result<int64_t>(value.status()), true);
    });
    return;
  }
  python_->Post([this, key, path, done] {
    Result<int64_t> written = Status::Internal("not serialized");
    Result<PySerialized> s = python_->Serialize(key);
    if (s.ok()) {
      Serialized value{std::move(s->header), std::move(s->frames)};
      python_->WithoutGil([&] { written = DataStore::WriteSpillFile(path, value); });
      if (written.ok()) python_->Delete(key);
    } else {
      written = s.status();
    }
    done(written, false);
  });
}

void WorkerServer::Unspill(const Key& key) {
  store_.BeginUnspill(key);
  std::string path = store_.PathFor(key);
  auto done = [this, key](Status st, std::optional<native::NdArray> array) {
    asio::post(io_, [this, key, st, array = std::move(array)]() mutable {
      if (!store_.Contains(key)) {
        python_->Post([this, key] { python_->Delete(key); });
      } else if (st.ok()) {
        if (array) {
          native_[key] = native::NativeValue{std::move(*array), {}};
          spilled_native_.erase(key);
        }
        store_.FinishUnspill(key);
      } else {
        // The value is gone: say so, so the scheduler recomputes it elsewhere.
        std::fprintf(stderr, "dask-native-worker: lost spilled %s: %s\n", key.Repr().c_str(),
                     st.ToString().c_str());
        store_.AbortUnspill(key);
        ReleaseData(key);
      }
      Dispatch();
    });
  };
  if (spilled_native_.count(key)) {
    executor_->Post([path, done] {
      Result<Serialized> value = DataStore::ReadSpillFile(path);
      if (!value.ok()) return done(value.status(), std::nullopt);
      Result<NdarrayView> view = DeserializeNdarray(*value);
      if (!view.ok()) return done(view.status(), std::nullopt);
      Result<native::DType> dt = native::ParseDType(view->meta.dtype);
      if (!dt.ok()) return done(dt.status(), std::nullopt);
      native::NdArray a;
      a.dtype = *dt;
      a.shape = view->meta.shape;
      a.strides = view->meta.strides;
      a.data = view->data;
      done(Status::OK(), std::move(a));
    });
    return;
  }
  python_->Post([this, key, path, done] {
    Result<Serialized> value = Status::Internal("not read");
    python_->WithoutGil([&] { value = DataStore::ReadSpillFile(path); });
    Status st = value.status();
    if (value.ok()) st = python_->Put(key, *value).status();
    done(st, std::nullopt);
  });
}

void WorkerServer::SetPaused(bool paused) {
  if (paused == paused_) return;
  paused_ = paused;
  std::fprintf(stderr, "dask-native-worker: %s (process memory %s 80%% of the limit)\n",
               paused ? "paused" : "resumed", paused ? "above" : "below");
  SendToScheduler(Value(Map{{Value("op"), Value("worker-status-change")},
                            {Value("status"), Value(paused ? "paused" : "running")},
                            {Value("stimulus_id"), Value(Stimulus("worker-memory"))}}));
  if (!paused) Dispatch();
}

awaitable<void> WorkerServer::MemoryMonitor() {
  const bool limited = config_.memory_limit && *config_.memory_limit > 0;
  const double limit = limited ? static_cast<double>(*config_.memory_limit) : 0;
  PagePool& pool = PagePool::Global();
  while (!stopping_) {
    asio::steady_timer t(io_, std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    pool.TrimIdle(kPoolIdle);
    if (!limited) continue;
    int64_t rss = RssBytes();
    // Pooled pages are free memory the worker still maps: give them back before they
    // count towards spilling or pausing.
    if (rss > static_cast<int64_t>(kTargetFraction * limit) && pool.pooled_bytes() > 0) {
      pool.Trim(0);
      rss = RssBytes();
    }
    if (stream_) SetPaused(rss > static_cast<int64_t>(kPauseFraction * limit));
    MaybeSpill(rss);
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
    } else if (op == "gather") {
      reply = co_await GatherRpc(*msg);
    } else if (op == "run") {
      reply = co_await RunFunction(*msg);
    } else if (op == "versions") {
      reply = python_->versions();
    } else if (op == "identity") {
      reply = Value(Map{{Value("type"), Value("Worker")},
                        {Value("id"), Value(server_id_)},
                        {Value("address"), Value(address_)},
                        {Value("nthreads"), Value(static_cast<int64_t>(config_.nthreads))},
                        {Value("memory_limit"), config_.memory_limit ? Value(*config_.memory_limit) : Value()}});
    } else if (op == "keys") {
      Array keys;
      for (const Key& k : store_.Keys()) keys.push_back(k.ToValue());
      reply = Value(std::move(keys));
    } else if (op == "free_keys") {
      OnFreeKeys(KeysFromValue(msg->Find("keys")));
      reply = Value("OK");
    } else if (op == "terminate") {
      conn->Send(Value("OK"));
      CloseGracefully();
      break;
    } else {
      reply = ErrorMessage("No handler found: " + std::string(op), "error");
    }
    const Value* rf = msg->Find("reply");
    bool wants_reply = !(rf && rf->is<bool>() && !*rf->get_if<bool>());
    if (wants_reply) conn->Send(reply);
  }
  conn->CloseAfterFlush();  // a reply may still be queued
}

// A stored value in its wire form: from Python if in memory, straight from its spill
// file if on disk (no need to bring it back into memory to send it).
awaitable<Result<Serialized>> WorkerServer::SerializeStored(Key key) {
  // Wait out a spill or unspill in flight.
  for (std::optional<Residence> r = store_.residence(key);
       r == Residence::kSpilling || r == Residence::kUnspilling; r = store_.residence(key)) {
    asio::steady_timer t(io_, std::chrono::milliseconds(5));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::optional<Residence> where = store_.residence(key);
  if (!where) co_return Status::NotFound("no longer held");
  Pin(key);
  Result<Serialized> out = Status::Internal("unset");
  if (*where == Residence::kMemory && native_.count(key)) {
    store_.Touch(key);
    out = SerializeNative(native_.at(key));
  } else if (*where == Residence::kDisk) {
    std::string path = store_.PathFor(key);
    std::function<Result<Serialized>()> job = [this, path] {
      Result<Serialized> v = Status::Internal("unset");
      python_->WithoutGil([&] { v = DataStore::ReadSpillFile(path); });
      return v;
    };
    out = co_await InPython<Result<Serialized>>(std::move(job));
  } else {
    store_.Touch(key);
    std::function<Result<Serialized>()> job = [this, key]() -> Result<Serialized> {
      DN_ASSIGN_OR_RETURN(PySerialized s, python_->Serialize(key));
      return Serialized{std::move(s.header), std::move(s.frames)};
    };
    out = co_await InPython<Result<Serialized>>(std::move(job));
  }
  Unpin(key);
  co_return out;
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
  const Value* d = msg.Find("data");
  if (d != nullptr && d->map() != nullptr) {
    for (const MapEntry& e : *d->map()) {
      auto k = Key::FromValue(e.key);
      const Serialized* s = e.value.get_if<Serialized>();
      if (!k.ok() || s == nullptr) continue;
      Key key = *k;
      Result<int64_t> n = co_await StoreReceived(key, *s);
      if (!n.ok()) continue;
      OnStored(key, *n);
      nbytes.push_back(MapEntry{e.key, Value(*n)});
    }
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
        if (n.ok()) OnStored(k, *n);
      }
    }
    std::erase_if(wanted, [this](const auto& w) { return store_.Contains(w.first); });
  }
  if (wanted.empty()) co_return Value(Map{{Value("status"), Value("OK")}});
  Array failed;
  for (const auto& [k, holders] : wanted) failed.push_back(k.ToValue());
  co_return Value(Map{{Value("status"), Value("partial-fail")}, {Value("keys"), Value(std::move(failed))}});
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
