"""Fixtures: the cluster under test (compat_cluster.py's kind) and one all-stock cluster
for the differential tests, each started once for the whole session."""
from __future__ import annotations

import pytest
from distributed import Client

from compat_cluster import make_cluster
from dask_native.cluster import ProcessCluster


@pytest.fixture(scope="session")
def native_cluster(tmp_path_factory):
    with make_cluster(tmp_path_factory, "native") as cluster:
        yield cluster


@pytest.fixture
def client(native_cluster):
    with Client(native_cluster.address, timeout=30) as c:
        c.wait_for_workers(3, timeout=60)
        yield c


@pytest.fixture(scope="session")
def stock_cluster(tmp_path_factory):
    """Stock scheduler and 3 stock workers: what the differential tests compare with.
    Tests share it, so they name what they create uniquely."""
    # A stock worker whose tasks made a worker client sometimes takes 10 s to close (its
    # executor shutdown is cancelled); it has nothing left to do, so 3 s is enough.
    with ProcessCluster(n_workers=3, log_dir=str(tmp_path_factory.mktemp("stock")),
                        stop_grace=3.0) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def stock_client(stock_cluster):
    with Client(stock_cluster.address, timeout=30) as c:
        c.wait_for_workers(3, timeout=60)
        yield c
