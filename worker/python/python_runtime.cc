#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "worker/python/python_runtime.h"

#include <atomic>

#include "common/python/interpreter.h"
#include "protocol/msgpack/msgpack_codec.h"

namespace dn {

namespace {

class PyRef {
 public:
  explicit PyRef(PyObject* p = nullptr) : p_(p) {}
  ~PyRef() { Py_XDECREF(p_); }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  PyObject* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  PyObject* p_;
};

class GilLock {
 public:
  GilLock() : state_(PyGILState_Ensure()) {}
  ~GilLock() { PyGILState_Release(state_); }

 private:
  PyGILState_STATE state_;
};

Status PyError(std::string_view context) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  std::string msg(context);
  if (value) {
    PyRef s(PyObject_Str(value));
    if (s) {
      if (const char* c = PyUnicode_AsUTF8(s.get())) msg += std::string(": ") + c;
    }
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
  return Status::Internal(msg);
}

PyObject* Bytes(std::string_view s) {
  return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
}

PyObject* KeyBytes(const Key& key) {
  std::string packed;
  (void)EncodeMsgpack(key.ToValue(), &packed);
  return Bytes(packed);
}

PyObject* BytesList(const std::vector<Buffer>& bufs) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(bufs.size()));
  for (size_t i = 0; i < bufs.size(); ++i) PyList_SET_ITEM(list, i, Bytes(bufs[i].view()));
  return list;
}

Buffer BufferOf(PyObject* bytes) {
  if (bytes == nullptr || !PyBytes_Check(bytes)) return {};
  return Buffer::CopyFrom(std::string_view(PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes)));
}

std::string StrOf(PyObject* s) {
  const char* c = s && PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : nullptr;
  return c ? c : "";
}

// (header msgpack bytes, [frames]) -> PySerialized
Result<PySerialized> ToSerialized(PyObject* header, PyObject* frames) {
  PySerialized out;
  DN_ASSIGN_OR_RETURN(Value h, DecodeMsgpack(BufferOf(header), MapConvention::kSets));
  if (h.map() == nullptr) return Status::Internal("serialized header is not a map");
  out.header = std::move(*h.map());
  for (Py_ssize_t i = 0; frames && i < PyList_Size(frames); ++i) {
    out.frames.push_back(BufferOf(PyList_GetItem(frames, i)));
  }
  return out;
}

// A Python object exposing a native Buffer through the buffer protocol, read-only. It
// owns a reference to the Buffer, so numpy views of it stay valid after the worker
// forgets the key.
struct NativeBufferObject {
  PyObject_HEAD Buffer* buffer;
};

int NativeBufferGet(PyObject* self, Py_buffer* view, int flags) {
  Buffer* b = reinterpret_cast<NativeBufferObject*>(self)->buffer;
  return PyBuffer_FillInfo(view, self, const_cast<uint8_t*>(b->data()),
                           static_cast<Py_ssize_t>(b->size()),
                           /*readonly=*/1, flags);
}

void NativeBufferDealloc(PyObject* self) {
  delete reinterpret_cast<NativeBufferObject*>(self)->buffer;
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyObject* NativeBufferType() {
  static PyObject* type = [] {
    static PyType_Slot slots[] = {{Py_bf_getbuffer, reinterpret_cast<void*>(NativeBufferGet)},
                                  {Py_tp_dealloc, reinterpret_cast<void*>(NativeBufferDealloc)},
                                  {0, nullptr}};
    static PyType_Spec spec = {"dask_native.NativeBuffer", sizeof(NativeBufferObject), 0,
                               Py_TPFLAGS_DEFAULT, slots};
    return PyType_FromSpec(&spec);
  }();
  return type;
}

PyObject* WrapBuffer(const Buffer& b) {
  PyObject* type = NativeBufferType();
  if (type == nullptr) return nullptr;
  auto* obj = PyObject_New(NativeBufferObject, reinterpret_cast<PyTypeObject*>(type));
  if (obj == nullptr) return nullptr;
  Py_INCREF(type);  // heap types are referenced by their instances
  obj->buffer = new Buffer(b);
  return reinterpret_cast<PyObject*>(obj);
}

PyObject* IntTuple(const std::vector<int64_t>& v) {
  PyObject* t = PyTuple_New(static_cast<Py_ssize_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) PyTuple_SET_ITEM(t, i, PyLong_FromLongLong(v[i]));
  return t;
}

// Set once the interpreter is finalized: Buffers that still reference Python objects
// (exported arrays) may be dropped after that, at process exit; they must not touch it.
std::atomic<bool> g_python_finalized{false};

std::vector<int64_t> IntVector(PyObject* tuple) {
  std::vector<int64_t> out;
  for (Py_ssize_t i = 0; tuple && i < PyTuple_Size(tuple); ++i)
    out.push_back(PyLong_AsLongLong(PyTuple_GetItem(tuple, i)));
  return out;
}

}  // namespace

Result<std::unique_ptr<PythonRuntime>> PythonRuntime::Start(const PythonEnvironment& env,
                                                            int nthreads) {
  std::unique_ptr<PythonRuntime> rt(new PythonRuntime());
  rt->nthreads_ = std::max(1, nthreads);
  std::promise<Status> started;
  std::future<Status> ready = started.get_future();
  rt->main_ = std::thread([raw = rt.get(), &env, &started] { raw->Main(env, &started); });
  Status st = ready.get();
  if (!st.ok()) {
    rt->main_.join();
    return st;
  }
  for (int i = 1; i < rt->nthreads_; ++i)
    rt->helpers_.emplace_back([raw = rt.get()] { Loop(&raw->tasks_); });
  rt->service_ = std::thread([raw = rt.get()] { Loop(&raw->service_jobs_); });
  return rt;
}

PythonRuntime::~PythonRuntime() {
  auto stop = [](Queue* q) {
    {
      std::lock_guard<std::mutex> lock(q->mu);
      q->stop = true;
    }
    q->cv.notify_all();
  };
  // The main thread finalizes the interpreter once the task queue stops, so every
  // other thread is done with Python before that.
  stop(&service_jobs_);
  if (service_.joinable()) service_.join();
  stop(&tasks_);
  for (auto& t : helpers_) t.join();
  if (main_.joinable()) main_.join();
}

void PythonRuntime::Push(Queue* q, std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(q->mu);
    q->jobs.push_back(std::move(job));
  }
  q->cv.notify_one();
}

void PythonRuntime::Post(std::function<void()> job) { Push(&service_jobs_, std::move(job)); }

void PythonRuntime::PostTask(std::function<void()> job) { Push(&tasks_, std::move(job)); }

void PythonRuntime::Main(const PythonEnvironment& env, std::promise<Status>* started) {
  Status st = StartInterpreter(env);
  if (!st.ok()) {
    started->set_value(st);
    return;
  }
  PyObject* module = PyImport_ImportModule("dask_native.worker_runtime");
  if (module == nullptr) {
    started->set_value(PyError("import dask_native.worker_runtime"));
    Py_FinalizeEx();
    return;
  }
  module_ = module;
  {
    PyRef blob(PyObject_CallMethod(module, "versions", nullptr));
    if (blob) {
      auto v = DecodeMsgpack(BufferOf(blob.get()), MapConvention::kPlain);
      if (v.ok()) versions_ = *v;
    } else {
      PyErr_Clear();
    }
  }
  PyThreadState* saved = PyEval_SaveThread();
  started->set_value(Status::OK());
  Loop(&tasks_);
  PyEval_RestoreThread(saved);
  Py_XDECREF(module);
  g_python_finalized = true;
  Py_FinalizeEx();
}

void PythonRuntime::Loop(Queue* q) {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(q->mu);
      q->cv.wait(lock, [q] { return q->stop || !q->jobs.empty(); });
      if (q->stop && q->jobs.empty()) return;
      job = std::move(q->jobs.front());
      q->jobs.pop_front();
    }
    GilLock gil;
    job();
  }
}

PyTaskOutcome PythonRuntime::Execute(const Key& key, const Pickled& run_spec,
                                     const std::vector<Key>& deps) {
  PyTaskOutcome out;
  PyObject* dep_list = PyList_New(static_cast<Py_ssize_t>(deps.size()));
  for (size_t i = 0; i < deps.size(); ++i) PyList_SET_ITEM(dep_list, i, KeyBytes(deps[i]));
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "execute", "(NNNN)", KeyBytes(key),
                              Bytes(run_spec.pickled_obj().view()), BytesList(run_spec.frames),
                              dep_list));
  if (!r || !PyTuple_Check(r.get())) {
    Status st = PyError("worker_runtime.execute");
    out.exception_text = st.message();
    return out;
  }
  PyObject* t = r.get();
  out.ok = StrOf(PyTuple_GetItem(t, 0)) == "OK";
  if (out.ok) {
    out.nbytes = PyLong_AsLongLong(PyTuple_GetItem(t, 1));
    out.type_pickle = BufferOf(PyTuple_GetItem(t, 2));
    out.type_name = StrOf(PyTuple_GetItem(t, 3));
    out.thread = PyLong_AsLongLong(PyTuple_GetItem(t, 4));
    out.start = PyFloat_AsDouble(PyTuple_GetItem(t, 5));
    out.stop = PyFloat_AsDouble(PyTuple_GetItem(t, 6));
  } else {
    out.exception_pickle = BufferOf(PyTuple_GetItem(t, 1));
    out.traceback_pickle = BufferOf(PyTuple_GetItem(t, 2));
    out.exception_text = StrOf(PyTuple_GetItem(t, 3));
    out.traceback_text = StrOf(PyTuple_GetItem(t, 4));
    out.thread = PyLong_AsLongLong(PyTuple_GetItem(t, 5));
    out.start = PyFloat_AsDouble(PyTuple_GetItem(t, 6));
    out.stop = PyFloat_AsDouble(PyTuple_GetItem(t, 7));
  }
  return out;
}

Result<PySerialized> PythonRuntime::Serialize(const Key& key) {
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "serialize", "(N)", KeyBytes(key)));
  if (!r || !PyTuple_Check(r.get())) return PyError("worker_runtime.serialize");
  return ToSerialized(PyTuple_GetItem(r.get(), 0), PyTuple_GetItem(r.get(), 1));
}

Result<int64_t> PythonRuntime::Put(const Key& key, const Serialized& value) {
  std::string header;
  DN_RETURN_NOT_OK(EncodeMsgpack(Value(value.header), &header));
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "put", "(NNN)", KeyBytes(key),
                              Bytes(header), BytesList(value.frames)));
  if (!r) return PyError("worker_runtime.put");
  return static_cast<int64_t>(PyLong_AsLongLong(r.get()));
}

void PythonRuntime::Delete(const Key& key) {
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "delete", "(N)", KeyBytes(key)));
  if (!r) PyErr_Clear();
}

Status PythonRuntime::PutArray(const Key& key, const PyArrayView& a) {
  PyObject* buf = WrapBuffer(a.data);
  if (buf == nullptr) return PyError("NativeBuffer");
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "put_array", "(NNsNNO)",
                              KeyBytes(key), buf, a.dtype.c_str(), IntTuple(a.shape),
                              IntTuple(a.strides), a.scalar ? Py_True : Py_False));
  if (!r) return PyError("worker_runtime.put_array");
  return Status::OK();
}

Status PythonRuntime::PutDict(const Key& key,
                              const std::vector<std::pair<std::string, PyArrayView>>& fields) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(fields.size()));
  for (size_t i = 0; i < fields.size(); ++i) {
    const PyArrayView& a = fields[i].second;
    PyObject* buf = WrapBuffer(a.data);
    if (buf == nullptr) {
      Py_DECREF(list);
      return PyError("NativeBuffer");
    }
    PyList_SET_ITEM(
        list, i,
        Py_BuildValue("(sNsNNO)", fields[i].first.c_str(), buf, a.dtype.c_str(), IntTuple(a.shape),
                      IntTuple(a.strides), a.scalar ? Py_True : Py_False));
  }
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "put_dict", "(NN)", KeyBytes(key),
                              list));
  if (!r) return PyError("worker_runtime.put_dict");
  return Status::OK();
}

Result<PyArrayView> PythonRuntime::ExportArray(const Key& key) {
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "exportable", "(N)", KeyBytes(key)));
  if (!r) return PyError("worker_runtime.exportable");
  if (r.get() == Py_None || !PyTuple_Check(r.get()))
    return Status::NotImplemented("not a plain ndarray");
  auto* view = new Py_buffer;
  if (PyObject_GetBuffer(PyTuple_GetItem(r.get(), 0), view, PyBUF_RECORDS_RO) != 0) {
    delete view;
    PyErr_Clear();
    return Status::NotImplemented("no buffer");
  }
  // The Buffer keeps numpy's memory alive through the Py_buffer (which references the
  // array); releasing it needs the GIL, taken from whichever thread drops it last.
  std::shared_ptr<const void> owner(view, [](const void* p) {
    auto* v = static_cast<Py_buffer*>(const_cast<void*>(p));
    if (!g_python_finalized) {
      PyGILState_STATE st = PyGILState_Ensure();
      PyBuffer_Release(v);
      PyGILState_Release(st);
    }
    delete v;
  });
  PyArrayView out;
  out.data = Buffer(std::move(owner), static_cast<const uint8_t*>(view->buf),
                    static_cast<size_t>(view->len));
  out.dtype = StrOf(PyTuple_GetItem(r.get(), 1));
  out.shape = IntVector(PyTuple_GetItem(r.get(), 2));
  out.strides = IntVector(PyTuple_GetItem(r.get(), 3));
  return out;
}

void PythonRuntime::WithoutGil(const std::function<void()>& fn) {
  Py_BEGIN_ALLOW_THREADS fn();
  Py_END_ALLOW_THREADS
}

Result<Value> PythonRuntime::CallStacks(const std::vector<Key>& keys) {
  PyObject* wanted = PyList_New(static_cast<Py_ssize_t>(keys.size()));
  for (size_t i = 0; i < keys.size(); ++i) PyList_SET_ITEM(wanted, i, KeyBytes(keys[i]));
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "call_stack", "(N)", wanted));
  if (!r) return PyError("worker_runtime.call_stack");
  return DecodeMsgpack(BufferOf(r.get()), MapConvention::kPlain);
}

Result<PySerialized> PythonRuntime::RunFunction(const Buffer& function, const Buffer& args,
                                                const Buffer& kwargs) {
  PyRef r(PyObject_CallMethod(static_cast<PyObject*>(module_), "run", "(NNN)",
                              Bytes(function.view()), Bytes(args.view()), Bytes(kwargs.view())));
  if (!r || !PyTuple_Check(r.get())) return PyError("worker_runtime.run");
  if (StrOf(PyTuple_GetItem(r.get(), 0)) != "OK") {
    return Status::Invalid(StrOf(PyTuple_GetItem(r.get(), 1)));
  }
  return ToSerialized(PyTuple_GetItem(r.get(), 1), PyTuple_GetItem(r.get(), 2));
}

}  // namespace dn
