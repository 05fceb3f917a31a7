#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/status.h"

namespace dn {

/// A Python distribution that the embedded interpreter must find installed, at exactly
/// `version` (the version this build was tested with).
struct PythonRequirement {
  std::string name;
  std::string version;
};

/// The interpreter a binary embeds, and what it must find installed in it.
struct PythonEnvironment {
  /// The environment's `python` executable. Embedding sets PyConfig.executable to it, so
  /// site.py finds the environment (a venv's pyvenv.cfg) and its site-packages.
  std::string executable;
  /// Checked right after the interpreter starts, before anything is imported.
  std::vector<PythonRequirement> requirements;
};

/// Where an environment variable may be read from; tests pass a fake.
using GetEnvFn = const char* (*)(const char*);

/// Choose the interpreter to embed, first match wins:
///   1. `flag` (the binary's --python), if not empty;
///   2. $DN_PYTHON;
///   3. the activated environment: $VIRTUAL_ENV/bin/python, then $CONDA_PREFIX/bin/python;
///   4. `python3` beside the binary (`self_dir`: installed into a venv or a prefix);
///   5. `python3` on $PATH.
/// Fails with NotFound, in one line naming the flag and the variable, when none exists.
/// Never looks at a source tree: an installed binary must not depend on one.
Result<std::string> FindPythonExecutable(std::string_view flag, std::string_view self_dir,
                                         GetEnvFn getenv_fn);

/// The directory of the running binary (readlink of /proc/self/exe), or "" if unknown.
std::string SelfDirectory();

/// Check that `executable` runs Python `major`.`minor`, the version the binary links:
/// from its environment's pyvenv.cfg (`version` or `version_info`), else from the name
/// of the file it resolves to (`python3.11`). OK when neither tells.
Status CheckPythonVersion(const std::string& executable, int major, int minor);

/// The requirements this build was tested with: dask, distributed and numpy as pinned in
/// requirements.txt, and dask_native at the project's version (CMake passes them in).
std::vector<PythonRequirement> BuildPythonRequirements();

/// Python source that, run as a module body, sets the global `problem` to None when every
/// requirement is installed at its version, or else to one line naming each distribution
/// that is missing or differs, the interpreter, and what to do.
std::string RequirementCheckSource(const std::string& executable,
                                   const std::vector<PythonRequirement>& requirements);

/// The environment a binary embeds: FindPythonExecutable with the process's own
/// environment variables and directory, and BuildPythonRequirements.
Result<PythonEnvironment> ResolvePythonEnvironment(std::string_view flag);

}  // namespace dn
