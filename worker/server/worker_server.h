#pragma once

#include "protocol/comm/connection.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "protocol/messages/handler_inventory.h"
#include "protocol/messages/worker_ops.h"
#include "worker/native/executor.h"
#include "worker/native/ndarray.h"
#include "worker/python/python_runtime.h"
#include "worker/state/worker_state.h"
#include "worker/store/data_store.h"

namespace dn {

/// Settings from the command line (main.cc).
struct WorkerConfig {
  std::string scheduler_address;
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 0;
  std::string contact_host;  ///< empty: the local address facing the scheduler
  int nthreads = 1;
  int cpu_limit = 1 << 20;  ///< CPUs the process may use (config/CpuLimit)
  std::optional<int64_t> memory_limit;
  Value name;  ///< nil: the contact address
  std::string local_directory = "/tmp";
  Map resources;
  double death_timeout_s = 0;  ///< 0: keep retrying to reach the scheduler
  ConnectionLimits limits;
  bool validate = false;  ///< check the task state machine's invariants (tests)
};

/// dask-native-worker's network side, task bookkeeping and memory management.
///
/// One Asio thread owns all state. The task states live in a worker::WorkerState (the
/// pure state machine): the server turns messages and outcomes into its events and
/// carries out its instructions (send, fetch with get_data, run natively or in the
/// PythonRuntime's threads, which post their outcome back). It keeps the values, their
/// books (DataStore), spilling and the comms. The methods are implemented in
/// worker_server.cc and, by concern, worker_fetch.cc, worker_values.cc,
/// worker_execute.cc and worker_memory.cc.
class WorkerServer {
 public:
  WorkerServer(asio::io_context& io, WorkerConfig config, std::unique_ptr<PythonRuntime> python);
  ~WorkerServer();

  /// Listen and start connecting to the scheduler.
  Status Start();
  /// Leave the scheduler (close-stream) and stop the loop.
  void Stop();
  /// On SIGTERM: ask the scheduler to retire this worker (so its results are copied
  /// elsewhere first), then stop, as Worker.close_gracefully does.
  void CloseGracefully();
  const std::string& address() const { return address_; }
  /// Process exit status when the worker gave up (no scheduler within the death
  /// timeout, registration refused); the nanny does not restart such a worker.
  static constexpr int kExitGaveUp = 3;
  /// 0 after a requested stop, kExitGaveUp otherwise.
  int exit_code() const { return exit_code_; }

  /// The RPCs served (read from the dispatch table ServeComm uses, so the list cannot
  /// drift from what it answers) and refused on purpose (worker_refusals.h).
  static DispatchInventory RpcInventory();
  /// The same for the scheduler stream's ops.
  static DispatchInventory StreamInventory();
  /// `--list-handlers`: {"rpc", "stream", "nanny": {"rpc", "stream"}} as JSON. The
  /// native nanny (main.cc) has no listener: it serves nothing and refuses every RPC
  /// of stock's Nanny.
  static std::string HandlersJson();

 private:
  /// What an RPC leaves its comm loop: the reply to send, if the caller wants one (none
  /// when the handler wrote its own), and whether to end the comm.
  struct RpcOutcome {
    std::optional<Value> reply;
    bool close_comm = false;
  };
  /// How one RPC is answered: exactly one member is set. `sync` answers at once,
  /// `async` waits (peers, Python), `on_comm` uses the comm itself.
  struct RpcRoute {
    Value (*sync)(WorkerServer&, const Value& msg) = nullptr;
    awaitable<Value> (WorkerServer::*async)(Value msg) = nullptr;
    awaitable<RpcOutcome> (WorkerServer::*on_comm)(std::shared_ptr<Connection> conn,
                                                   const Value& msg) = nullptr;
  };
  /// The RPC dispatch table, op -> route (worker_dispatch.cc), built on first use.
  static const std::unordered_map<std::string_view, RpcRoute>& RpcRoutes();
  /// A scheduler stream op's handler: it appends the events it causes.
  using StreamOpHandler = void (*)(WorkerServer&, const Value& msg,
                                   std::vector<worker::Event>& events);
  /// The stream dispatch table, op -> handler (worker_dispatch.cc).
  static const std::unordered_map<std::string_view, StreamOpHandler>& StreamOpRoutes();
  /// Answer one RPC: served, refused on purpose (NotImplementedError), or unknown.
  awaitable<RpcOutcome> HandleRpc(std::shared_ptr<Connection> conn, const Value& msg);
  /// get_data: the reply, then the caller's "OK" (the comm ends if that fails).
  awaitable<RpcOutcome> GetDataRpc(std::shared_ptr<Connection> conn, const Value& msg);
  /// terminate: reply "OK", retire gracefully, end the comm.
  awaitable<RpcOutcome> TerminateRpc(std::shared_ptr<Connection> conn, const Value& msg);

  /// An Execute under way: the inputs it pinned, and where it runs.
  struct Running {
    std::vector<Key> deps;
    bool python = false;
    bool started = false;    ///< posted to an executor (else waiting for spilled inputs)
    double started_at = 0;   ///< wall time when posted
    double reported_at = 0;  ///< run time at which Watchdog last logged it
  };

  awaitable<void> ServeComm(std::shared_ptr<Connection> conn);
  awaitable<void> ConnectToScheduler();
  awaitable<void> StreamLoop();
  awaitable<void> HeartbeatLoop();
  awaitable<void> MemoryMonitor();
  awaitable<void> Watchdog();
  void WatchLoop();
  awaitable<void> RetireSelf();
  awaitable<void> Fetch(std::string peer, std::vector<Key> keys, int64_t total_nbytes);
  awaitable<Result<Value>> GetData(const std::string& peer, const std::vector<Key>& keys);
  awaitable<Result<int64_t>> StoreInPython(Key key, Serialized value);
  awaitable<Result<Serialized>> SerializeStored(Key key);
  awaitable<Value> CallStack(Value msg);
  awaitable<Value> GetDataReply(Value msg);
  awaitable<Value> UpdateData(Value msg);
  awaitable<Value> RunFunction(Value msg);
  awaitable<Value> GatherRpc(Value msg);
  awaitable<std::shared_ptr<Connection>> PeerConnection(const std::string& peer);
  void ReturnPeerConnection(const std::string& peer, std::shared_ptr<Connection> conn);

  /// Err a compute-task that does not parse (or log it, if not even its key does).
  void RejectComputeTask(const Value& m, const Status& why);
  /// Turn one scheduler stream op into an event (appended to `events`), or act on it.
  void HandleStreamOp(const Value& msg, std::vector<worker::Event>& events);
  /// Hand one event to the state machine and carry out what it says.
  void Feed(worker::Event ev);
  /// Carry out instructions, in order.
  void Carry(worker::Instructions instructions);
  /// Values the server stored for `keys` before telling the state machine: book those
  /// now in memory, drop the others (a cancelled run or transfer).
  void SettleStored(const std::vector<std::pair<Key, int64_t>>& stored);
  /// Drop this worker's value of `key`: books, native value, Python object, pins.
  void DropValue(const Key& key);
  /// Execute: pin the inputs, read back spilled ones, then run natively or in Python.
  void StartExecute(const Key& key);
  /// Start the Executes whose inputs were on disk and are now back (or failed).
  void RetryAwaitingInputs();
  /// Whether the state machine may start `ts` beyond the threads (run-ahead).
  bool MayRunAhead(const worker::TaskState& ts) const;
  /// Free the pins and slot bookkeeping of a finished run.
  void EndRun(const Key& key);
  awaitable<void> FindMissingLoop();
  Value GetStory(const Value& msg) const;
  void RunNative(const Key& key);
  void RunPython(const Key& key);
  void OnExecuted(Key key, PyTaskOutcome outcome);
  void OnNativeExecuted(Key key, native::NativeValue value, double start, double stop);
  /// Store a value received from a peer or client: natively if it is a plain numpy
  /// array, else in Python. Returns its size.
  awaitable<Result<int64_t>> StoreReceived(Key key, Serialized value);
  Result<Serialized> SerializeNative(const native::NativeValue& v) const;
  Result<Serialized> SerializeArray(const native::NdArray& a) const;
  /// Book a value in memory in the DataStore (and spill if over the target).
  void OnStored(const Key& key, int64_t nbytes);
  void SendToScheduler(Value op);

  // Spilling (memory limits, as distributed.worker_memory): above the target fraction
  // of the limit, least recently used results go to disk; above the pause fraction of
  // process memory no new task starts.
  void MaybeSpill(int64_t rss);
  void Spill(const Key& key);
  void Unspill(const Key& key);
  bool Pinned(const Key& key) const { return pins_.count(key) != 0; }
  void Pin(const Key& key) { ++pins_[key]; }
  void Unpin(const Key& key);
  void SetPaused(bool paused);

  Value RegisterMessage() const;
  Value Metrics() const;
  template <typename T>
  awaitable<T> InPython(std::function<T()> fn);

  asio::io_context& io_;
  WorkerConfig config_;
  std::unique_ptr<PythonRuntime> python_;
  tcp::acceptor acceptor_;
  std::string address_;
  std::string server_id_;
  std::shared_ptr<Connection> stream_;
  Array stream_batch_;
  bool stream_flush_posted_ = false;
  /// The task state machine: every task's state lives there, none here.
  worker::WorkerState state_;
  DataStore store_;  ///< what this worker holds, and where
  /// Values held natively (the rest live in Python's worker_runtime._store).
  std::unordered_map<Key, native::NativeValue, KeyHash> native_;
  std::unordered_set<Key, KeyHash> spilled_native_;  ///< on disk, native when read back
  /// Keys whose value Python never held (made by a native task, or received and decoded
  /// natively, and not handed to a Python task since): freeing them need not wake the
  /// Python thread. That is ~80 wakes per worker per seed cycle, each taking a core from
  /// a running kernel; four interleaved 16-cycle loops: cycle medians 0.299-0.312 s
  /// against 0.307-0.319 s when every free wakes Python.
  std::unordered_set<Key, KeyHash> native_only_;
  std::unique_ptr<native::NativeExecutor> executor_;
  int64_t native_tasks_ = 0;                    ///< tasks run natively since start
  int64_t python_tasks_ = 0;                    ///< tasks run in the embedded Python
  std::unordered_map<Key, int, KeyHash> pins_;  ///< in use by a running task or a transfer
  int64_t spilling_bytes_ = 0;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Connection>>> idle_peers_;
  /// Executes under way (I/O only: pins and which executor; their states are in state_).
  std::unordered_map<Key, Running, KeyHash> running_;
  /// Executes waiting for spilled inputs to be read back, in the order they came.
  std::vector<Key> awaiting_inputs_;
  int python_running_ = 0;            ///< of running_, the ones posted to Python
  double last_native_seconds_ = 1.0;  ///< how long the last native task ran
  bool stopping_ = false;
  // The event loop's pulse: Watchdog() stores the time every kTick, and watch_thread_
  // reports when it stops beating (a blocked loop cannot report itself).
  std::atomic<double> last_tick_{0};
  std::atomic<bool> watch_stop_{false};
  std::thread watch_thread_;
  double tick_limit_ = 3;  ///< distributed.admin.tick.limit
  int exit_code_ = 0;
};

}  // namespace dn
