"""Fixtures: one native-scheduler cluster with 3 stock workers for the whole session."""
from __future__ import annotations

import pytest
from distributed import Client

from compat_cluster import make_cluster


@pytest.fixture(scope="session")
def native_cluster(tmp_path_factory):
    with make_cluster(tmp_path_factory, "native") as cluster:
        yield cluster


@pytest.fixture
def client(native_cluster):
    with Client(native_cluster.address, timeout=30) as c:
        c.wait_for_workers(3, timeout=60)
        yield c
