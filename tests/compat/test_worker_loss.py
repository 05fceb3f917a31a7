"""A worker killed mid-graph: the native scheduler reschedules its tasks and
recomputes its lost results, and the client still gets the right answer."""
from __future__ import annotations

import os
import signal
import time

from distributed import Client

from compat_cluster import make_cluster


def test_worker_killed_mid_graph(tmp_path_factory):
    # Defined here so cloudpickle ships it by value: the scheduler and the workers
    # cannot import this test module.
    def slow_inc(x, delay=0.05):
        time.sleep(delay)
        return x + 1

    with make_cluster(tmp_path_factory, "loss") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            futs = c.map(slow_inc, range(60), delay=0.1)
            total = c.submit(sum, futs)
            time.sleep(1.0)
            victim = cluster.procs[1]  # procs[0] is the scheduler
            os.killpg(victim.pid, signal.SIGKILL)
            assert total.result(timeout=120) == sum(range(1, 61))
            assert len(c.scheduler_info()["workers"]) == 2
