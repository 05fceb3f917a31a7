"""Root-task placement among native workers that share a host's cores.

The scheduler leaves a queued root task to a worker's neighbours on the same host while
they keep every core it may use busy and it already holds more than its share
(SchedulerState::WaitsForNeighbours; unit tests in scheduler_state_test.cc). This test
drives the real binaries: the workers report their CPUs in their metrics, the scheduler
reads them, and the placement that results is checked with the stock client.

Layout: worker-0 runs alone on one CPU, worker-1 and worker-2 share another (taskset).
With plain queuing worker-0, twice as fast as each of the others, takes about half of
the tasks; with the rule each worker holds about a third.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest
from distributed import Client, wait

from dask_native.binaries import native_binary
from dask_native.cluster import ProcessCluster

N_TASKS = 60


def test_root_tasks_spread_evenly_over_workers_that_share_cpus(tmp_path):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs: one for worker-0, one shared by worker-1 and worker-2")
    def cpu_bound(i):
        # A fixed amount of CPU work (not a wall-clock wait), so a worker that gets half
        # a core takes twice as long. Defined here so that it travels by value.
        total = 0
        for j in range(400_000):
            total += j ^ i
        return total

    worker = native_binary("dask-native-worker")
    pinned = [["taskset", "-c", str(cpus[0]), worker]] + [["taskset", "-c", str(cpus[1]), worker]] * 2
    with ProcessCluster(n_workers=3, scheduler_cmd=[native_binary("dask-native-scheduler"), "--validate"],
                        worker_cmds=pinned, log_dir=str(tmp_path)) as cluster:
        with Client(cluster.address, timeout=60) as c:
            c.wait_for_workers(3, timeout=60)
            c.submit(cpu_bound, -1).result()  # imports and the first Python task done
            futures = c.map(cpu_bound, range(N_TASKS), pure=False)
            wait(futures)
            assert c.gather(futures) == [cpu_bound(i) for i in range(N_TASKS)]
            names = {addr: w["name"] for addr, w in c.scheduler_info()["workers"].items()}
            shares = Counter(names[addr] for f, addrs in c.who_has(futures).items() for addr in addrs)
    assert sum(shares.values()) == N_TASKS, shares
    # Each worker may run ahead of the least loaded one by the scheduler's slack (2 per
    # thread) plus the task it is running and the one queued behind it.
    assert max(shares.values()) - min(shares.values()) <= 5, shares
