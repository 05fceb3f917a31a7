"""Find the installed native binaries, dask-native-scheduler and dask-native-worker.

They are installed apart from this package (`cmake --install build --prefix P`), into a
prefix or into the same venv. For each binary, the first of these wins:

1. the variable naming that binary: ``DN_SCHEDULER_BIN`` or ``DN_WORKER_BIN``;
2. ``DN_BIN_DIR``, a directory holding both;
3. beside this interpreter (both installed into this venv or prefix);
4. ``PATH``.

Nothing here looks into a source tree.
"""
from __future__ import annotations

import os
import shutil
import sys

SCHEDULER = "dask-native-scheduler"
WORKER = "dask-native-worker"
_VARIABLES = {SCHEDULER: "DN_SCHEDULER_BIN", WORKER: "DN_WORKER_BIN"}


class BinaryNotFound(FileNotFoundError):
    """A native binary is not installed where this package looks for it."""


def native_binary(name: str) -> str:
    """The path of `name` (``dask-native-scheduler`` or ``dask-native-worker``)."""
    if name not in _VARIABLES:
        raise ValueError(f"unknown dask-native binary {name!r}; expected one of {list(_VARIABLES)}")
    variable = _VARIABLES[name]
    if os.environ.get(variable):
        path = os.environ[variable]
        if not os.access(path, os.X_OK):
            raise BinaryNotFound(f"{variable}={path} is not an executable file")
        return path
    if os.environ.get("DN_BIN_DIR"):
        path = os.path.join(os.environ["DN_BIN_DIR"], name)
        if not os.access(path, os.X_OK):
            raise BinaryNotFound(f"DN_BIN_DIR={os.environ['DN_BIN_DIR']} has no executable {name}")
        return path
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found:
        return found
    raise BinaryNotFound(
        f"{name} not found beside {sys.executable} or on PATH; install the binaries "
        f"(cmake --install BUILD --prefix PREFIX) and put PREFIX/bin on PATH, or set "
        f"DN_BIN_DIR or {variable}")


def scheduler_cmd() -> list[str]:
    return [native_binary(SCHEDULER)]


def worker_cmd() -> list[str]:
    return [native_binary(WORKER)]
