// WorkerServer: running tasks, natively or in the embedded Python, in priority order,
// and reporting their results.
#include "worker/server/worker_server.h"

#include <cstdio>

#include "protocol/pickle/pickle_reader.h"
#include "protocol/pickle/pickle_writer.h"
#include "protocol/serialize/bytes_serializer.h"
#include "worker/native/evaluator.h"
#include "worker/native/records.h"
#include "worker/server/worker_server_internal.h"

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

}  // namespace

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
        MarkReady(k);
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
  if (!ready_sorted_) {
    std::stable_sort(ready_.begin(), ready_.end(), [this](const Key& a, const Key& b) {
      auto x = tasks_.find(a), y = tasks_.find(b);
      if (x == tasks_.end() || y == tasks_.end()) return x != tasks_.end();
      return PriorityLess(x->second->spec.priority, y->second->spec.priority);
    });
    ready_sorted_ = true;
  }
  // While only short native tasks run, kNativeLookahead more may be posted, to wait in
  // the native executor's queue. Python tasks start only on a free thread, and nothing
  // runs ahead beside a Python task (the native executor would start it at once, one
  // thread too many). A task that cannot start holds back the ones behind it, so tasks
  // still start in priority order.
  const int lookahead = last_native_seconds_ < kLookaheadBelowSeconds ? kNativeLookahead : 0;
  for (size_t i = 0; i < ready_.size() && executing_ < config_.nthreads + lookahead;) {
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
    bool all_native = task.spec.run_spec.has_value() && !task.python_only;
    for (const auto& [dep, holders] : task.spec.who_has)
      all_native = all_native && native_.count(dep);
    if (executing_ >= config_.nthreads && (!all_native || python_executing_ > 0)) break;
    ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
    task.state = State::kExecuting;
    ++executing_;
    for (const auto& [dep, holders] : task.spec.who_has) {
      Pin(dep);
      store_.Touch(dep);
    }
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
    if (TraceNative())
      std::fprintf(stderr, "native %s %.2f ms at %.4f\n", key.Repr().c_str(), (stop - start) * 1e3,
                   stop);
    asio::post(io_, [this, key, run_id, deps, out = std::move(out), start, stop]() mutable {
      if (out.ok()) {
        OnNativeExecuted(key, run_id, std::move(deps), out.MoveValueUnsafe(), start, stop);
        return;
      }
      if (TraceNative()) {
        std::fprintf(stderr, "python %s: %s\n", key.Repr().c_str(),
                     out.status().ToString().c_str());
      }
      if (out.status().code() != StatusCode::kNotImplemented) {
        std::fprintf(
            stderr,
            "dask-native-worker: native evaluation of %s failed (%s); running it in Python\n",
            key.Repr().c_str(), out.status().ToString().c_str());
      }
      auto it = tasks_.find(key);
      if (it != tasks_.end() && !it->second->cancelled && executing_ <= config_.nthreads) {
        RunPython(key);
        return;
      }
      // Gone, or every thread is taken (this task ran ahead of them): give back its
      // slot; a task still wanted goes back to the ready queue, for Python.
      --executing_;
      for (const Key& d : deps) Unpin(d);
      if (it != tasks_.end() && it->second->cancelled) {
        tasks_.erase(it);
      } else if (it != tasks_.end()) {
        it->second->state = State::kReady;
        it->second->python_only = true;
        MarkReady(key);
      }
      Dispatch();
    });
  });
}

void WorkerServer::RunPython(const Key& key) {
  Task& task = *tasks_.at(key);
  std::vector<Key> deps;
  native_only_.erase(key);  // Python makes this value
  // Native inputs Python needs to see: one unnamed array, or a dict's named arrays.
  std::vector<std::pair<Key, std::vector<std::pair<std::string, PyArrayView>>>> exports;
  for (const auto& [dep, holders] : task.spec.who_has) {
    deps.push_back(dep);
    if (auto it = native_.find(dep); it != native_.end()) {
      native_only_.erase(dep);  // Python will hold a view of it
      auto view = [](const native::NdArray& a) {
        return PyArrayView{a.data, std::string(native::DTypeStr(a.dtype)), a.shape, a.strides,
                           a.scalar};
      };
      if (it->second.records) {
        // A structured array: numpy views its packed records with the dtype rebuilt
        // from the descr text (worker_runtime.put_array).
        const std::vector<native::RecordField> fields = native::RecordFields(it->second);
        const std::vector<int64_t>& shape = it->second.fields[0].second.shape;
        PyArrayView records{native::PackRecords(it->second), native::RecordsDescr(fields), shape,
                            native::NdArray::CStrides(shape, native::RecordSize(fields)), false};
        exports.emplace_back(
            dep, std::vector<std::pair<std::string, PyArrayView>>{{"", std::move(records)}});
      } else if (!it->second.is_dict()) {
        exports.emplace_back(
            dep, std::vector<std::pair<std::string, PyArrayView>>{{"", view(it->second.array)}});
      } else {
        std::vector<std::pair<std::string, PyArrayView>> fields;
        for (const auto& [name, a] : it->second.fields) fields.emplace_back(name, view(a));
        exports.emplace_back(dep, std::move(fields));
      }
    }
  }
  Pickled run_spec = task.spec.run_spec.value_or(Pickled{});
  int64_t run_id = task.spec.run_id;
  ++python_executing_;
  python_->Post([this, key, run_spec, deps, exports, run_id] {
    PyTaskOutcome outcome;
    Status exported;
    for (const auto& [k, fields] : exports) {
      exported = fields.size() == 1 && fields[0].first.empty()
                     ? python_->PutArray(k, fields[0].second)
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
    asio::post(io_, [this, key, run_id, deps, outcome = std::move(outcome),
                     array = std::move(array)]() mutable {
      if (array && outcome.ok) {
        Result<native::DType> dt = native::ParseDType(array->dtype);
        if (dt.ok()) {
          native::NdArray a;
          a.dtype = *dt;
          a.shape = std::move(array->shape);
          a.strides = std::move(array->strides);
          a.data = std::move(array->data);
          if (tasks_.count(key) && !tasks_.at(key)->cancelled)
            native_[key] = native::NativeValue{std::move(a), {}};
        }
      }
      OnExecuted(key, run_id, std::move(deps), std::move(outcome));
    });
  });
}

void WorkerServer::OnNativeExecuted(Key key, int64_t run_id, std::vector<Key> deps,
                                    native::NativeValue value, double start, double stop) {
  --executing_;
  last_native_seconds_ = stop - start;
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
  native_only_.insert(key);
  OnStored(key, nbytes);
}

void WorkerServer::OnExecuted(Key key, int64_t run_id, std::vector<Key> deps,
                              PyTaskOutcome outcome) {
  --executing_;
  --python_executing_;
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
    f.stimulus_id = Stimulus("task-finished");
    SendToScheduler(f.ToValue());
    OnStored(key, outcome.nbytes);
  } else {
    it->second->state = State::kError;
    TaskErred e;
    e.key = key;
    e.run_id = run_id;
    e.exception = outcome.exception_pickle.empty()
                      ? Value(outcome.exception_text)
                      : Value(SerializeBytes(outcome.exception_pickle));
    e.traceback = outcome.traceback_pickle.empty()
                      ? Value()
                      : Value(SerializeBytes(outcome.traceback_pickle));
    e.exception_text = outcome.exception_text;
    e.traceback_text = outcome.traceback_text;
    e.thread = Value(outcome.thread);
    e.startstops = {ss};
    e.stimulus_id = Stimulus("task-erred");
    SendToScheduler(e.ToValue());
  }
  Dispatch();
}

}  // namespace dn
