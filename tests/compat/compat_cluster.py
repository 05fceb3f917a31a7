"""Clusters for the compatibility tests, started from the tests themselves on 127.0.0.1.

The same suite runs on four clusters, chosen with DN_COMPAT_CLUSTER:

  native-scheduler  dask-native-scheduler + 3 stock `dask worker` (the default)
  native            dask-native-scheduler + 3 dask-native-worker
  stock-scheduler   stock `dask scheduler` + 3 dask-native-worker
  mixed             dask-native-scheduler + 1 stock worker + 2 dask-native-worker

(DN_COMPAT_WORKERS=native, the older spelling, means `native`.)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dask_native.binaries import native_binary
from dask_native.cluster import ProcessCluster

BIN = Path(sys.executable).parent
CONFIGS = ("native-scheduler", "native", "stock-scheduler", "mixed")


def config() -> str:
    name = os.environ.get("DN_COMPAT_CLUSTER")
    if name is None:
        name = "native" if os.environ.get("DN_COMPAT_WORKERS") == "native" else "native-scheduler"
    if name not in CONFIGS:
        raise ValueError(f"DN_COMPAT_CLUSTER={name!r}; expected one of {CONFIGS}")
    return name


def native_scheduler_cmd() -> list[str]:
    # --validate: SchedulerState checks every invariant after each stimulus.
    return [native_binary("dask-native-scheduler"), "--validate"]


def stock_scheduler_cmd() -> list[str]:
    return [str(BIN / "dask"), "scheduler"]


def native_worker_cmd() -> list[str]:
    return [native_binary("dask-native-worker")]


def stock_worker_cmd() -> list[str]:
    return [str(BIN / "dask"), "worker"]


def scheduler_cmd() -> list[str]:
    return stock_scheduler_cmd() if config() == "stock-scheduler" else native_scheduler_cmd()


def worker_cmds(n: int) -> list[list[str]]:
    name = config()
    if name == "native-scheduler":
        return [stock_worker_cmd()] * n
    if name == "mixed":
        return [stock_worker_cmd()] + [native_worker_cmd()] * (n - 1)
    return [native_worker_cmd()] * n


def has_native_workers() -> bool:
    return config() != "native-scheduler"


# Tests about dask-native-scheduler itself (its CLI, its limits) run only where it is
# the scheduler.
native_scheduler_only = pytest.mark.skipif(
    config() == "stock-scheduler", reason="checks dask-native-scheduler itself")
native_workers_only = pytest.mark.skipif(
    not has_native_workers(), reason="checks dask-native-worker itself")


def make_cluster(tmp_path_factory, name, n_workers=3, **kw) -> ProcessCluster:
    logs = tmp_path_factory.mktemp(name)
    kw.setdefault("scheduler_cmd", scheduler_cmd())
    kw.setdefault("worker_cmds", worker_cmds(n_workers))
    return ProcessCluster(n_workers=n_workers, log_dir=str(logs), **kw)
