"""Clusters for the compatibility tests: the native scheduler with stock `dask worker`
processes, started from the tests themselves on 127.0.0.1."""
from __future__ import annotations

import os
import pathlib
import sys

import pytest
from distributed import Client

from dask_native.cluster import ProcessCluster

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def native_scheduler_cmd() -> list[str]:
    # --validate: SchedulerState checks every invariant after each stimulus.
    return [str(BIN / "dask-native-scheduler"), "--validate"]


def make_cluster(tmp_path_factory, name, n_workers=3, **kw) -> ProcessCluster:
    logs = tmp_path_factory.mktemp(name)
    return ProcessCluster(n_workers=n_workers, scheduler_cmd=native_scheduler_cmd(),
                          log_dir=str(logs), **kw)


@pytest.fixture(scope="session")
def native_cluster(tmp_path_factory):
    with make_cluster(tmp_path_factory, "native") as cluster:
        yield cluster


@pytest.fixture
def client(native_cluster):
    with Client(native_cluster.address, timeout=30) as c:
        c.wait_for_workers(3, timeout=60)
        yield c
