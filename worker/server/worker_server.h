#pragma once

#include "protocol/comm/connection.h"

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "protocol/messages/worker_ops.h"
#include "worker/native/executor.h"
#include "worker/native/ndarray.h"
#include "worker/python/python_runtime.h"
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
};

/// dask-native-worker's network side, task bookkeeping and memory management.
///
/// One Asio thread owns all state. Tasks run in the PythonRuntime's threads (one per
/// --nthreads) and post their outcome back. Dependencies missing locally are fetched
/// from the holders named in compute-task with get_data, batched per peer. The methods
/// are implemented in worker_server.cc and, by concern, worker_fetch.cc,
/// worker_values.cc, worker_execute.cc and worker_memory.cc.
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

 private:
  enum class State : uint8_t { kFetching, kReady, kExecuting, kMemory, kError };
  struct Task {
    ComputeTask spec;
    State state = State::kFetching;
    bool cancelled = false;    ///< freed while executing: drop the result when it ends
    bool python_only = false;  ///< native evaluation declined it: Python runs it
    std::unordered_set<Key, KeyHash> missing;
  };

  awaitable<void> ServeComm(std::shared_ptr<Connection> conn);
  awaitable<void> ConnectToScheduler();
  awaitable<void> StreamLoop();
  awaitable<void> HeartbeatLoop();
  awaitable<void> MemoryMonitor();
  awaitable<void> RetireSelf();
  awaitable<void> Fetch(std::string peer, std::vector<Key> keys);
  awaitable<Result<Value>> GetData(const std::string& peer, const std::vector<Key>& keys);
  awaitable<Result<int64_t>> StoreInPython(Key key, Serialized value);
  awaitable<Result<Serialized>> SerializeStored(Key key);
  awaitable<Value> GetDataReply(Value msg);
  awaitable<Value> UpdateData(Value msg);
  awaitable<Value> RunFunction(Value msg);
  awaitable<Value> GatherRpc(Value msg);
  awaitable<std::shared_ptr<Connection>> PeerConnection(const std::string& peer);
  void ReturnPeerConnection(const std::string& peer, std::shared_ptr<Connection> conn);

  void HandleStreamOp(const Value& msg);
  void OnComputeTask(ComputeTask spec);
  void OnFreeKeys(const std::vector<Key>& keys);
  void OnStealRequest(const Value& msg);
  void OnRemoveReplicas(const std::vector<Key>& keys);
  void OnRefreshWhoHas(const Value& who_has);
  void ForgetTask(const Key& key);
  /// Tasks still fetching `dep` (from waiters_, skipping stale entries).
  std::vector<Task*> TasksWaitingFor(const Key& dep);
  void ReleaseData(const Key& key);
  /// Queue `key` for fetching from one of `holders` (skipping peers that failed for
  /// it); requests are batched per peer once per loop turn.
  void ScheduleFetch(const Key& key, const std::vector<std::string>& holders);
  void FlushFetches();
  void Dispatch();
  void MarkReady(const Key& key) {
    ready_.push_back(key);
    ready_sorted_ = false;
  }
  void RunNative(const Key& key);
  void RunPython(const Key& key);
  void OnExecuted(Key key, int64_t run_id, std::vector<Key> deps, PyTaskOutcome outcome);
  void OnNativeExecuted(Key key, int64_t run_id, std::vector<Key> deps, native::NativeValue value,
                        double start, double stop);
  /// Store a value received from a peer or client: natively if it is a plain numpy
  /// array, else in Python. Returns its size.
  awaitable<Result<int64_t>> StoreReceived(Key key, Serialized value);
  Result<Serialized> SerializeNative(const native::NativeValue& v) const;
  Result<Serialized> SerializeArray(const native::NdArray& a) const;
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
  std::unordered_map<Key, std::unique_ptr<Task>, KeyHash> tasks_;
  /// Missing input -> the tasks waiting for it, so storing a value wakes its waiters
  /// without scanning every task.
  std::unordered_map<Key, std::vector<Key>, KeyHash> waiters_;
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
  bool paused_ = false;
  std::unordered_set<Key, KeyHash> fetching_;
  std::unordered_map<Key, std::unordered_set<std::string>, KeyHash> failed_peers_;
  std::unordered_map<std::string, std::vector<Key>> pending_fetches_;
  bool fetch_flush_posted_ = false;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Connection>>> idle_peers_;
  /// Tasks whose inputs are all here, best priority first once Dispatch has sorted
  /// them. Sorted only after additions (MarkReady): the scheduler sends root tasks a
  /// few at a time, but all of a reduction's chunk tasks at once, and re-sorting those
  /// on every completion took a tenth of the event loop's CPU in the seed's sum.
  std::vector<Key> ready_;
  bool ready_sorted_ = true;
  int executing_ = 0;                 ///< tasks posted to an executor and not yet done
  int python_executing_ = 0;          ///< of those, the ones posted to Python
  double last_native_seconds_ = 1.0;  ///< how long the last native task ran
  bool stopping_ = false;
  int exit_code_ = 0;
};

}  // namespace dn
