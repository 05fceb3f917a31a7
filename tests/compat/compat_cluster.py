"""Clusters for the compatibility tests: the native scheduler with stock `dask worker`
processes, started from the tests themselves on 127.0.0.1."""
from __future__ import annotations

import sys
from pathlib import Path

from dask_native.cluster import ProcessCluster

BIN = Path(sys.executable).parent


def native_scheduler_cmd() -> list[str]:
    # --validate: SchedulerState checks every invariant after each stimulus.
    return [str(BIN / "dask-native-scheduler"), "--validate"]


def worker_cmd() -> list[str] | None:
    """DN_COMPAT_WORKERS=native runs the suite on dask-native-worker (issue 4);
    the default is stock `dask worker`."""
    import os
    if os.environ.get("DN_COMPAT_WORKERS") == "native":
        return [str(BIN / "dask-native-worker")]
    return None


def make_cluster(tmp_path_factory, name, n_workers=3, **kw) -> ProcessCluster:
    logs = tmp_path_factory.mktemp(name)
    kw.setdefault("worker_cmd", worker_cmd())
    return ProcessCluster(n_workers=n_workers, scheduler_cmd=native_scheduler_cmd(),
                          log_dir=str(logs), **kw)
