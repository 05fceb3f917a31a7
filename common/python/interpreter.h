#pragma once

#include "common/python/python_env.h"
#include "common/status.h"

namespace dn {

/// Start the embedded CPython for `env`, on the calling thread, which then holds the GIL.
///
/// Refuses, with one line saying what differs and what to do, an interpreter of another
/// Python version than the one linked and an environment whose required distributions
/// are missing or at other versions; in that case the interpreter is finalized again.
/// Python's own signal handlers are not installed: signals belong to the event loop.
///
/// Both binaries start their interpreter here, so they accept and refuse the same
/// environments. This folder, scheduler/graph/ and worker/python/ are the only code that
/// includes Python.h; this one knows nothing about dask.
Status StartInterpreter(const PythonEnvironment& env);

}  // namespace dn
