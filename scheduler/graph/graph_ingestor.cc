#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "scheduler/graph/graph_ingestor.h"

#include <malloc.h>

#include "common/python/interpreter.h"
#include "protocol/msgpack/msgpack_codec.h"

namespace dn {

namespace {

// Materializing a large graph frees most of what it allocated in Python, much of it
// run_spec bytes above pymalloc's 512-byte limit and so in glibc's heap, where free()
// keeps the pages resident. After a graph this large the ingestor gives free pages back
// (malloc_trim): for the bench's 100k-chunk graph (~300k tasks) the scheduler then runs
// it at ~880-950 MB instead of ~1020-1110, and idles at ~650 MB after it instead of ~820.
constexpr size_t kTrimAfterTasks = 10000;

// Owned reference; Py_XDECREF on scope exit. Used only with the GIL held.
class PyRef {
 public:
  explicit PyRef(PyObject* p = nullptr) : p_(p) {}
  ~PyRef() { Py_XDECREF(p_); }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  PyObject* get() const { return p_; }
  PyObject* release() {
    PyObject* p = p_;
    p_ = nullptr;
    return p;
  }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  PyObject* p_;
};

// Fetch and format the pending Python exception (GIL held).
Status PyErrorStatus(std::string_view context) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string msg(context);
  if (value != nullptr) {
    PyRef s(PyObject_Str(value));
    if (s) {
      const char* c = PyUnicode_AsUTF8(s.get());
      if (c) msg += std::string(": ") + c;
    }
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
  return Status::Internal(msg);
}

PyObject* BytesFrom(const Buffer& b) {
  return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(b.data()),
                                   static_cast<Py_ssize_t>(b.size()));
}

PyObject* BytesFromString(const std::string& s) {
  return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
}

PyObject* ListOfBytes(const std::vector<Buffer>& bufs) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(bufs.size()));
  for (size_t i = 0; i < bufs.size(); ++i) PyList_SET_ITEM(list, i, BytesFrom(bufs[i]));
  return list;
}

Result<std::string> Pack(const Value& v) {
  std::string out;
  DN_RETURN_NOT_OK(EncodeMsgpack(v, &out));
  return out;
}

Result<Value> DecodeOwnReply(const Buffer& blob) {
  MsgpackLimits limits;
  limits.max_values = uint64_t{1} << 30;  // our own interpreter's output, not a peer's
  return DecodeMsgpack(blob, MapConvention::kPlain, limits);
}

// Append graph_ingest's tasks ([key, deps, order, annotations, run_spec, buffers]
// arrays) to `result`. The run_spec frames are slices of the decoded reply's buffer.
Status AppendTasks(const Array& tasks, IngestResult* result) {
  result->tasks.reserve(result->tasks.size() + tasks.size());
  for (const Value& t : tasks) {
    const Array* f = t.array();
    if (f == nullptr || f->size() != 6) return Status::Internal("malformed task from graph_ingest");
    GraphTask task;
    DN_ASSIGN_OR_RETURN(task.key, Key::FromValue((*f)[0]));
    if (const Array* deps = (*f)[1].array()) {
      for (const Value& d : *deps) {
        DN_ASSIGN_OR_RETURN(Key k, Key::FromValue(d));
        task.dependencies.push_back(std::move(k));
      }
    }
    if (const int64_t* o = (*f)[2].get_if<int64_t>()) task.order = *o;
    if (const Map* m = (*f)[3].map()) task.annotations = *m;
    const Bin* pickle = (*f)[4].get_if<Bin>();
    if (pickle == nullptr) return Status::Internal("task without a run_spec pickle");
    std::vector<Buffer> buffers;
    if (const Array* bufs = (*f)[5].array()) {
      for (const Value& b : *bufs) {
        if (const Bin* bin = b.get_if<Bin>()) buffers.push_back(bin->data);
      }
    }
    // The sub-header stock create_pickled_sub_frames writes for ToPickle(run_spec).
    Array compression(buffers.size(), Value());
    task.run_spec.header.push_back({Value("pickled-obj"), Value(Bin{pickle->data})});
    task.run_spec.header.push_back({Value("compression"), Value(std::move(compression))});
    task.run_spec.header.push_back(
        {Value("num-sub-frames"), Value(static_cast<int64_t>(buffers.size()))});
    task.run_spec.frames = std::move(buffers);
    result->tasks.push_back(std::move(task));
  }
  return Status::OK();
}

// graph_ingest.materialize's tasks, in msgpack pieces (each an array of tasks).
Result<IngestResult> UnpackPieces(const std::vector<Buffer>& pieces) {
  IngestResult result;
  for (const Buffer& piece : pieces) {
    DN_ASSIGN_OR_RETURN(Value v, DecodeOwnReply(piece));
    const Array* tasks = v.array();
    if (tasks == nullptr) {
      return Status::Internal("graph_ingest returned a piece that is not a task list");
    }
    DN_RETURN_NOT_OK(AppendTasks(*tasks, &result));
  }
  return result;
}

// graph_ingest.materialize's failure: ["error", exception pickle, traceback pickle, text].
Result<IngestResult> UnpackFailure(const Buffer& blob) {
  DN_ASSIGN_OR_RETURN(Value v, DecodeOwnReply(blob));
  const Array* top = v.array();
  const std::string* tag = top && !top->empty() ? (*top)[0].str() : nullptr;
  if (tag == nullptr || top->size() < 4 || *tag != "error") {  // a tag means a non-empty top
    return Status::Internal("graph_ingest returned a malformed reply");
  }
  IngestResult result;
  result.failed = true;
  if (const Bin* b = (*top)[1].get_if<Bin>()) result.exception_pickle = b->data;
  if (const Bin* b = (*top)[2].get_if<Bin>()) result.traceback_pickle = b->data;
  if (const std::string* s = (*top)[3].str()) result.error_text = *s;
  return result;
}

// Hold the GIL for a scope (the ingestor thread releases it between requests).
class GilLock {
 public:
  GilLock() : state_(PyGILState_Ensure()) {}
  ~GilLock() { PyGILState_Release(state_); }
  GilLock(const GilLock&) = delete;
  GilLock& operator=(const GilLock&) = delete;

 private:
  PyGILState_STATE state_;
};

// Call graph_ingest.materialize(expr_header, expr_frames, keys, priority, annotations,
// annotation_buffers) and decode its reply.
Result<IngestResult> Materialize(PyObject* fn, const IngestRequest& req) {
  DN_ASSIGN_OR_RETURN(std::string header, Pack(Value(req.expr.header)));
  DN_ASSIGN_OR_RETURN(std::string keys, Pack(Value(req.keys)));
  DN_ASSIGN_OR_RETURN(std::string prio, Pack(req.internal_priority));
  Buffer ann = req.annotations ? req.annotations->pickled_obj() : Buffer();
  static const std::vector<Buffer> kNone;
  std::vector<Buffer> pieces;
  Buffer failure;
  {
    GilLock gil;  // declared before the references so they are released under it
    PyRef args(Py_BuildValue("(NNNNNN)", BytesFromString(header), ListOfBytes(req.expr.frames),
                             BytesFromString(keys), BytesFromString(prio), BytesFrom(ann),
                             ListOfBytes(req.annotations ? req.annotations->frames : kNone)));
    PyRef out(args ? PyObject_CallObject(fn, args.get()) : nullptr);
    if (out && PyList_Check(out.get())) {
      // Each piece is freed as soon as it is copied, so Python's copy of the tasks and
      // ours are never both whole (~300 MB each for a 300k-task graph).
      for (Py_ssize_t i = 0; i < PyList_GET_SIZE(out.get()); ++i) {
        PyObject* piece = PyList_GET_ITEM(out.get(), i);
        if (!PyBytes_Check(piece)) {
          return Status::Internal("graph_ingest returned a piece that is not bytes");
        }
        pieces.push_back(
            Buffer::CopyFrom(std::string_view(PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece))));
        Py_INCREF(Py_None);
        PyList_SetItem(out.get(), i, Py_None);  // drops the piece
      }
    } else if (out && PyBytes_Check(out.get())) {
      failure = Buffer::CopyFrom(
          std::string_view(PyBytes_AS_STRING(out.get()), PyBytes_GET_SIZE(out.get())));
    } else {
      return PyErrorStatus("graph_ingest.materialize");
    }
  }
  // Decoded without the GIL: other graphs' threads materialize meanwhile.
  if (!failure.empty()) return UnpackFailure(failure);
  return UnpackPieces(pieces);
}

}  // namespace

Result<std::unique_ptr<GraphIngestor>> GraphIngestor::Start(const PythonEnvironment& env) {
  std::unique_ptr<GraphIngestor> g(new GraphIngestor());
  std::promise<Status> started;
  std::future<Status> ready = started.get_future();
  g->thread_ = std::thread([raw = g.get(), &env, &started] { raw->Run(env, &started); });
  Status st = ready.get();
  if (!st.ok()) {
    g->thread_.join();
    return st;
  }
  // More threads on the same interpreter: the GIL switches every 5 ms, so a small graph
  // from one client completes while another client's large graph materializes.
  for (int i = 1; i < kThreads; ++i) {
    g->helpers_.emplace_back([raw = g.get()] { raw->Loop(); });
  }
  return g;
}

GraphIngestor::~GraphIngestor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : helpers_) t.join();
  if (thread_.joinable()) thread_.join();
}

void GraphIngestor::Submit(IngestRequest request, Callback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(std::move(request), std::move(done));
  }
  cv_.notify_one();
}

void GraphIngestor::Run(const PythonEnvironment& env, std::promise<Status>* started) {
  Status st = StartInterpreter(env);
  if (!st.ok()) {
    started->set_value(st);
    return;
  }
  PyObject* fn = nullptr;
  {
    PyRef module(PyImport_ImportModule("dask_native.graph_ingest"));
    if (!module) {
      started->set_value(PyErrorStatus("import dask_native.graph_ingest"));
      Py_FinalizeEx();
      return;
    }
    fn = PyObject_GetAttrString(module.get(), "materialize");
    PyRef versions_fn(PyObject_GetAttrString(module.get(), "versions"));
    PyRef blob(versions_fn ? PyObject_CallNoArgs(versions_fn.get()) : nullptr);
    if (blob && PyBytes_Check(blob.get())) {
      auto v = DecodeMsgpack(Buffer::CopyFrom(std::string_view(PyBytes_AS_STRING(blob.get()),
                                                               PyBytes_GET_SIZE(blob.get()))),
                             MapConvention::kPlain);
      if (v.ok()) versions_ = *v;
    } else {
      PyErr_Clear();
    }
  }
  fn_ = fn;
  PyThreadState* saved = PyEval_SaveThread();  // hold the GIL only while materializing
  started->set_value(Status::OK());
  Loop();
  // The helper threads have finished (the destructor joins them first).
  PyEval_RestoreThread(saved);
  Py_XDECREF(fn);
  Py_FinalizeEx();
}

void GraphIngestor::Loop() {
  while (true) {
    std::pair<IngestRequest, Callback> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_ && queue_.empty()) break;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    Result<IngestResult> result = Materialize(static_cast<PyObject*>(fn_), item.first);
    const bool large = result.ok() && result->tasks.size() >= kTrimAfterTasks;
    item.second(std::move(result));
    if (large) malloc_trim(0);
  }
}

}  // namespace dn
