#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/python/python_env.h"
#include "common/result.h"
#include "protocol/messages/key.h"
#include "protocol/msgpack/value.h"

namespace dn {

/// Outcome of running one task in Python (dask_native.worker_runtime.execute).
struct PyTaskOutcome {
  bool ok = false;
  int64_t nbytes = 0;
  Buffer type_pickle;
  std::string type_name;
  Buffer exception_pickle;
  Buffer traceback_pickle;
  std::string exception_text;
  std::string traceback_text;
  int64_t thread = 0;
  double start = 0;
  double stop = 0;
};

/// A value as (sub-header map, frames) for a __Serialized__ placeholder.
struct PySerialized {
  Map header;
  std::vector<Buffer> frames;
};

/// A native array handed to Python without copying (numpy views its bytes, read-only).
struct PyArrayView {
  Buffer data;
  std::string dtype;  ///< numpy dtype.str, e.g. "<f8"
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  ///< bytes
  bool scalar = false;           ///< a numpy scalar rather than an ndarray
};

/// The embedded CPython of the worker: `nthreads` threads share one interpreter and
/// run jobs with the GIL held; everything Python-specific is in python_runtime.cc,
/// the only worker code that includes Python.h.
///
/// Tasks run on `nthreads` task threads (PostTask). Everything else the worker asks of
/// Python (serializing a result for a peer, storing one received, spilling, client.run,
/// call stacks) runs on one service thread (Post), so a long task never holds up a
/// transfer: the two take turns at the GIL as stock's event loop and task threads do.
///
/// Post() and PostTask() may be called from any thread; the methods below them must be
/// called from a job (they use the GIL the job holds). Values stay in Python
/// (worker_runtime._store) keyed by the msgpack bytes of their key.
class PythonRuntime {
 public:
  /// Start the interpreter of `env` and `nthreads` job threads; fails if the environment
  /// does not match this build or dask_native.worker_runtime cannot be imported.
  static Result<std::unique_ptr<PythonRuntime>> Start(const PythonEnvironment& env, int nthreads);
  ~PythonRuntime();

  /// Run `job` on the service thread with the GIL held, in submission order.
  void Post(std::function<void()> job);
  /// Run `job` (a task) on a task thread with the GIL held, in submission order.
  void PostTask(std::function<void()> job);

  // --- inside a job only ----------------------------------------------------------
  PyTaskOutcome Execute(const Key& key, const Pickled& run_spec, const std::vector<Key>& deps);
  Result<PySerialized> Serialize(const Key& key);
  Result<int64_t> Put(const Key& key, const Serialized& value);
  void Delete(const Key& key);
  /// Make a natively held array visible to Python tasks as `_store[key]` (a numpy view
  /// of its bytes, kept alive by Python's reference); no-op if already there.
  Status PutArray(const Key& key, const PyArrayView& array);
  /// The same for a dict of named arrays (dask's mean chunks).
  Status PutDict(const Key& key, const std::vector<std::pair<std::string, PyArrayView>>& fields);
  /// The stored value of `key` as a native array sharing numpy's memory (its Buffer
  /// holds a reference to the ndarray), or NotImplemented if it is not a plain ndarray
  /// of a dtype the kernels know.
  Result<PyArrayView> ExportArray(const Key& key);
  /// Run `fn` with the GIL released (file I/O, compression), as stock threads do.
  void WithoutGil(const std::function<void()>& fn);
  /// What the Python tasks running now are doing, as stock's Worker.get_call_stack
  /// reports it: for each key, its thread's frames as text lines, outermost first.
  Result<Value> CallStacks(const std::vector<Key>& keys);
  /// client.run: ("OK", value) or an error text.
  Result<PySerialized> RunFunction(const Buffer& function, const Buffer& args,
                                   const Buffer& kwargs);
  const Value& versions() const { return versions_; }

 private:
  PythonRuntime() = default;
  void Main(const PythonEnvironment& env, std::promise<Status>* started);
  // A queue of jobs and the threads that take from it.
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> jobs;
    bool stop = false;
  };
  static void Push(Queue* q, std::function<void()> job);
  static void Loop(Queue* q);

  std::thread main_;                  // starts the interpreter, then takes tasks
  std::vector<std::thread> helpers_;  // more task threads
  std::thread service_;
  int nthreads_ = 1;
  Queue tasks_;
  Queue service_jobs_;
  void* module_ = nullptr;  // PyObject* dask_native.worker_runtime
  Value versions_;
};

}  // namespace dn
