"""Console scripts installed in .venv/bin: they exec the native binaries with this
interpreter as the embedded one, so `dask-native-scheduler` runs the same dask the
notebooks use."""
from __future__ import annotations

import os
import pathlib
import sys

_REPO = pathlib.Path(__file__).resolve().parents[3]


def _binary(name: str, env_var: str) -> str:
    path = os.environ.get(env_var) or str(_REPO / "build" / name.split("-")[-1] / name)
    if not os.path.exists(path):
        sys.exit(f"{name}: binary not found at {path}; build it with `make build` "
                 f"or set {env_var}")
    return path


def _exec(name: str, env_var: str) -> None:
    binary = _binary(name, env_var)
    os.environ.setdefault("DN_PYTHON", sys.executable)
    os.execv(binary, [binary, *sys.argv[1:]])


def scheduler() -> None:
    _exec("dask-native-scheduler", "DN_SCHEDULER_BIN")


def worker() -> None:
    _exec("dask-native-worker", "DN_WORKER_BIN")
