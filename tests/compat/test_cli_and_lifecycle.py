"""dask-native-scheduler's command line, versions, and graceful worker retirement."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from distributed import Client

from compat_cluster import make_cluster, native_scheduler_only
from dask_native.binaries import native_binary
from dask_native.cluster import free_port

SCHED = native_binary("dask-native-scheduler")


@native_scheduler_only
def test_unsupported_flag_is_refused():
    r = subprocess.run([SCHED, "--preload", "x.py"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "unrecognised option '--preload'" in r.stderr or "--preload" in r.stderr
    r = subprocess.run([SCHED, "--protocol", "ucx"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "ucx" in r.stderr


@native_scheduler_only
def test_bad_dask_config_values_are_refused_by_name():
    """DASK_* settings the scheduler reads fail at start-up, naming the key, instead of
    silently keeping a default."""
    import os
    for var, value, key in [
            ("DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "many",
             "distributed.scheduler.allowed-failures"),
            ("DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL", "soon",
             "distributed.scheduler.worker-ttl"),
            ("DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH", "-1",
             "distributed.admin.low-level-log-length")]:
        r = subprocess.run([SCHED, "--port", "0", "--no-dashboard"], capture_output=True,
                           text=True, timeout=30, env={**os.environ, var: value})
        assert r.returncode == 2, (var, r.returncode, r.stderr)
        assert f"bad {key} '{value}'" in r.stderr, r.stderr


@native_scheduler_only
def test_scheduler_file_pid_file_and_idle_timeout(tmp_path):
    port = free_port()
    sf, pf = tmp_path / "scheduler.json", tmp_path / "scheduler.pid"
    proc = subprocess.Popen([SCHED, "--host", "127.0.0.1", "--port", str(port),
                             "--dashboard-address", ":0", "--scheduler-file", str(sf),
                             "--pid-file", str(pf), "--idle-timeout", "2s"],
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if sf.exists() and sf.stat().st_size:
                break
            time.sleep(0.1)
        info = json.loads(sf.read_text())
        assert info["address"] == f"tcp://127.0.0.1:{port}"
        assert int(pf.read_text()) == proc.pid
        with Client(scheduler_file=str(sf), timeout=30) as c:
            assert c.scheduler_info()["address"] == info["address"]
        assert proc.wait(timeout=30) == 0  # idle for 2 s with no clients: it closes
    finally:
        proc.kill()


def test_versions(client):
    v = client.get_versions(check=False)
    assert v["scheduler"]["packages"]["dask"] == v["client"]["packages"]["dask"]
    assert v["scheduler"]["packages"]["distributed"] == v["client"]["packages"]["distributed"]
    assert len(v["workers"]) == 3


def test_graceful_retire_keeps_results(tmp_path_factory):
    with make_cluster(tmp_path_factory, "retire") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            futs = c.map(lambda v: v * 3, range(30), pure=False)
            c.gather(futs)
            victim = sorted(c.scheduler_info()["workers"])[0]
            out = c.retire_workers([victim], close_workers=True)
            assert list(out) == [victim]
            assert victim not in c.scheduler_info()["workers"]
            # Nothing was lost: no recomputation is needed to read the results.
            assert c.gather(futs) == [v * 3 for v in range(30)]
            assert all(victim not in ws for ws in c.who_has(futs).values())
            # The retired worker process exits on its own after `close`.
            deadline = time.time() + 30
            while time.time() < deadline and all(p.poll() is None for p in cluster.procs[1:]):
                time.sleep(0.2)
            assert sum(p.poll() is not None for p in cluster.procs[1:]) == 1


def test_shutdown_closes_scheduler_and_workers(tmp_path_factory):
    with make_cluster(tmp_path_factory, "shutdown") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            assert c.submit(lambda: 1).result() == 1
            c.shutdown()
        deadline = time.time() + 30
        while time.time() < deadline and any(p.poll() is None for p in cluster.procs):
            time.sleep(0.2)
        assert all(p.poll() is not None for p in cluster.procs)


def test_sigterm_exits_cleanly(tmp_path_factory):
    with make_cluster(tmp_path_factory, "sigterm") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            assert c.submit(lambda: 2).result() == 2
        cluster.procs[0].terminate()
        assert cluster.procs[0].wait(timeout=30) == 0


def test_worker_sigterm_retires_gracefully(tmp_path_factory):
    with make_cluster(tmp_path_factory, "wsigterm") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            futs = c.map(lambda v: v + 100, range(30), pure=False)
            c.gather(futs)
            cluster.procs[1].terminate()  # SIGTERM to one worker (its nanny forwards it)
            assert cluster.procs[1].wait(timeout=60) == 0
            deadline = time.time() + 30
            while len(c.scheduler_info()["workers"]) != 2 and time.time() < deadline:
                time.sleep(0.2)
            assert len(c.scheduler_info()["workers"]) == 2
            assert c.gather(futs) == [v + 100 for v in range(30)]
