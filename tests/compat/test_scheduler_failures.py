"""What a cluster does when a worker goes silent or the scheduler dies, against the
stock client: the same behaviour whichever scheduler and workers the cluster runs."""
from __future__ import annotations

import os
import signal
import subprocess
import time

from distributed import Client

from compat_cluster import make_cluster

# distributed.scheduler.worker-ttl, as a deployment sets it. Stock's effective TTL is
# max(worker-ttl, 10 heartbeat intervals), and the interval is 0.5 s up to 10 workers:
# a silent worker goes after 5 s.
_TTL = "2s"
_EFFECTIVE_TTL = 5.0


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_a_stopped_worker_is_removed_after_the_effective_ttl_and_its_tasks_finish_elsewhere(
        tmp_path_factory, monkeypatch):
    """SIGSTOP a worker in the middle of a graph (a hung node, a frozen VM): the scheduler
    hears no heartbeat, removes it after the effective TTL, and its tasks run on the
    others; the result is exact. After SIGCONT it finds itself removed and exits, and the
    scheduler keeps no key on it."""
    monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL", _TTL)

    def slow_inc(x):
        time.sleep(0.05)
        return x + 1

    with make_cluster(tmp_path_factory, "ttl") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            futures = c.map(slow_inc, range(120))
            total = c.submit(sum, futures)
            _wait_for(lambda: sum(f.done() for f in futures) >= 20, 60, "20 tasks done")
            victim = cluster.procs[2]  # procs[0] is the scheduler
            stopped_address = next(a for a, w in c.scheduler_info()["workers"].items()
                                   if w["name"] == "worker-1")
            os.killpg(victim.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            try:
                _wait_for(lambda: stopped_address not in c.scheduler_info()["workers"],
                          _EFFECTIVE_TTL + 10, "the stopped worker removed")
                removed_after = time.monotonic() - t0
                # Not before its effective TTL (heartbeats are 0.5 s apart).
                assert removed_after > _EFFECTIVE_TTL - 1, removed_after
                assert total.result(timeout=60) == sum(range(1, 121))
            finally:
                os.killpg(victim.pid, signal.SIGCONT)
            # Told it is gone (its stream closed, its heartbeat answered "missing"), it
            # exits; nothing of it stays on the scheduler.
            victim.wait(timeout=20)
            assert stopped_address not in c.scheduler_info()["workers"]
            for key, holders in c.who_has().items():
                assert stopped_address not in holders, key
            assert len(c.scheduler_info()["workers"]) == 2
            assert c.submit(slow_inc, 1, pure=False).result(timeout=30) == 2


def test_a_scheduler_restarted_on_its_address_gets_its_client_back(tmp_path_factory):
    """The scheduler pod dies and comes back on the same address. The stock client
    reconnects by itself. Workers do what stock workers do: they do not re-register but
    exit soon after the scheduler goes (exit status 0, as stock's), and the orchestrator
    starts new ones, here started by the test. The new cluster computes."""
    with make_cluster(tmp_path_factory, "restart") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            assert c.submit(lambda: 1).result(timeout=30) == 1
            scheduler = cluster.procs[0]
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.wait()
            for worker in cluster.procs[1:]:
                assert worker.wait(timeout=15) == 0, "a worker outlived its scheduler"
            argv = list(cluster.scheduler_cmd) + [
                "--host", "127.0.0.1", "--port", str(cluster.port),
                "--dashboard-address", "127.0.0.1:0"]
            log = open(os.path.join(cluster.log_dir, "scheduler-restarted.log"), "wb")
            restarted = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            cluster.procs[0] = restarted  # the cluster stops it on exit
            _wait_for(lambda: c.status == "running" and _responds(c), 30,
                      "the client back on the restarted scheduler")
            assert c.scheduler_info()["workers"] == {}
            del cluster.procs[1:]
            for i in range(3):
                _start_worker(cluster, i)
            c.wait_for_workers(3, timeout=60)
            assert c.submit(lambda x: x + 1, 1, pure=False).result(timeout=30) == 2


def _start_worker(cluster, i: int) -> None:
    """Start worker i again, as the orchestrator would, with the cluster's arguments."""
    cluster._spawn(cluster.worker_cmds[i] + [
        cluster.address, "--nthreads", str(cluster.nthreads), "--memory-limit",
        cluster.memory_limit, "--name", f"worker-{i}", "--host", "127.0.0.1",
        "--dashboard-address", "127.0.0.1:0", "--no-nanny"], f"worker-{i}-again")


def _responds(c: Client) -> bool:
    try:
        c.scheduler_info()
        return True
    except Exception:
        return False
