"""The environment of worker processes: what stock's Nanny sets before a worker starts
(distributed.nanny.pre-spawn-environ, distributed.nanny.environ), read from inside
tasks on every worker of the cluster kind under test. The clusters here run their
workers under a nanny, as `dask worker` does by default: a stock worker started with
--no-nanny gets none of it (dask-native-worker sets it either way)."""
from __future__ import annotations

import os
import subprocess

import pytest

from compat_cluster import make_cluster, native_workers_only
from dask_native.binaries import native_binary

# distributed.yaml's pre-spawn-environ defaults; a variable the test process already
# has is passed on unchanged (stock: the process environment wins).
DEFAULTS = {"MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1"}


def _worker_env(c, keys):
    # Defined here so that it is pickled by value: workers cannot import this module.
    def env(keys):
        import os

        return {"env": {k: os.environ.get(k) for k in keys}, "hash": hash("dask-native")}

    return c.run(env, keys)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from distributed import Client

    with make_cluster(tmp_path_factory, "nanny", nanny=True) as cluster, \
            Client(cluster.address, timeout=30) as c:
        c.wait_for_workers(3, timeout=60)
        yield c


def test_workers_get_stock_pre_spawn_environment(client):
    seen = _worker_env(client, [*DEFAULTS, "PYTHONHASHSEED"])
    assert len(seen) == 3
    for addr, got in seen.items():
        for k, v in DEFAULTS.items():
            assert got["env"][k] == os.environ.get(k, v), (addr, k, got)
        assert got["env"]["PYTHONHASHSEED"] == "6640", (addr, got)
    # Every worker hashes strings alike, stock's reason for the fixed seed.
    assert len({got["hash"] for got in seen.values()}) == 1, seen


def test_nanny_environ_config_reaches_workers(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON",
                       "{'OMP_NUM_THREADS': 2, 'MKL_NUM_THREADS': None}")
    monkeypatch.setenv("DASK_DISTRIBUTED__NANNY__ENVIRON", "{'DN_TEST_ENVIRON': 'set'}")
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DN_TEST_ENVIRON"):
        monkeypatch.delenv(k, raising=False)
    from distributed import Client

    with make_cluster(tmp_path_factory, "environ", n_workers=2, nanny=True) as cluster, \
            Client(cluster.address, timeout=30) as c:
        c.wait_for_workers(2, timeout=60)
        seen = _worker_env(c, ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "DN_TEST_ENVIRON"])
    for addr, got in seen.items():
        assert got["env"] == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": None,
                              "DN_TEST_ENVIRON": "set"}, (addr, got)


@native_workers_only
def test_malformed_environ_config_stops_the_worker_by_name():
    env = {**os.environ, "DASK_DISTRIBUTED__NANNY__ENVIRON": "OMP_NUM_THREADS=2"}
    r = subprocess.run([native_binary("dask-native-worker"), "tcp://127.0.0.1:1"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "distributed.nanny.environ" in r.stderr, r.stderr


def test_numpy_blas_runs_one_thread_per_worker(client):
    """What the variables are for: numpy's OpenBLAS in a worker uses one thread (asked
    of the library numpy loaded; wheels name its functions with a scipy_ prefix)."""
    if "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        pytest.skip("the test process sets the BLAS thread count itself")

    def blas_threads():
        import ctypes
        import re

        import numpy  # noqa: F401  loads its BLAS

        maps = open("/proc/self/maps").read()
        for lib in sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps))):
            dll = ctypes.CDLL(lib)
            for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                         "openblas_get_num_threads"):
                fn = getattr(dll, name, None)
                if fn is not None:
                    return fn()
        return "no OpenBLAS"

    seen = client.run(blas_threads)
    assert list(seen.values()) == [1, 1, 1], seen
