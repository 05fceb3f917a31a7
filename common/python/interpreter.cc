#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "common/python/interpreter.h"

#include <string>

namespace dn {
namespace {

// The pending Python exception as text, cleared (GIL held).
std::string TakePyError() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  std::string msg = "unknown error";
  if (value != nullptr) {
    if (PyObject* s = PyObject_Str(value)) {
      if (const char* c = PyUnicode_AsUTF8(s)) msg = c;
      Py_DECREF(s);
    }
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
  return msg;
}

// Run RequirementCheckSource and return its `problem` as a Status (GIL held).
Status CheckRequirements(const PythonEnvironment& env) {
  PyObject* globals = PyDict_New();
  if (globals == nullptr) return Status::Internal(TakePyError());
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  std::string source = RequirementCheckSource(env.executable, env.requirements);
  PyObject* ran = PyRun_String(source.c_str(), Py_file_input, globals, globals);
  Status st;
  if (ran == nullptr) {
    st = Status::Internal("checking the Python environment of " + env.executable + ": " +
                          TakePyError());
  } else {
    PyObject* problem = PyDict_GetItemString(globals, "problem");  // borrowed
    if (problem != nullptr && problem != Py_None) {
      const char* text = PyUnicode_AsUTF8(problem);
      st = Status::Invalid(text ? text : "the Python environment does not match this build");
    }
  }
  Py_XDECREF(ran);
  Py_DECREF(globals);
  return st;
}

}  // namespace

Status StartInterpreter(const PythonEnvironment& env) {
  DN_RETURN_NOT_OK(CheckPythonVersion(env.executable, PY_MAJOR_VERSION, PY_MINOR_VERSION));
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;
  // With `executable` at the environment's python, site.py finds its pyvenv.cfg (a venv)
  // or its prefix, and puts that environment's site-packages on sys.path.
  PyStatus ps = PyConfig_SetBytesString(&config, &config.executable, env.executable.c_str());
  if (!PyStatus_Exception(ps)) ps = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(ps)) {
    return Status::Internal(std::string("Python initialization failed: ") +
                            (ps.err_msg ? ps.err_msg : "unknown error"));
  }
  Status st = CheckRequirements(env);
  if (!st.ok()) Py_FinalizeEx();
  return st;
}

}  // namespace dn
