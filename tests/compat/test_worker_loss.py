"""Worker deaths: the native scheduler reschedules and recomputes, and gives up with
KilledWorker after allowed-failures, as stock does."""
from __future__ import annotations

import os
import signal
import time

import pytest
from distributed import Client

from compat_cluster import config, make_cluster


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


def test_nanny_workers_and_killed_worker(tmp_path_factory):
    """Workers with their nanny (the Helm chart's default): stock `dask worker` registers
    through register_nanny, dask-native-worker restarts its worker process itself. A
    task that kills its worker every time ends as KilledWorker after
    distributed.scheduler.allowed-failures (3) deaths."""
    from distributed.scheduler import KilledWorker

    with make_cluster(tmp_path_factory, "nanny", nanny=True) as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            assert c.submit(lambda: 41).result() == 41
            # Stock's Nanny.start gives up for good on a worker process that dies before
            # it has told its nanny it started, a few tens of ms after it registered with
            # the scheduler; this scheduler reschedules the task below fast enough to kill
            # all three workers within 30 ms of the last registration (seen in CI). Let
            # the nannies finish starting; their later restarts do not have that window.
            time.sleep(1)

            def die():
                import os
                os._exit(1)

            f = c.submit(die, pure=False)
            with pytest.raises(KilledWorker) as info:
                f.result(timeout=120)
            assert "died while running it" in str(info.value)
            c.wait_for_workers(3, timeout=60)  # the nannies brought them back
            assert c.submit(lambda: 42).result() == 42


def _worker_processes(nanny_pid: int) -> list:
    """The worker process under a nanny: its newest descendant that is not a
    multiprocessing helper (stock's nanny also runs a resource tracker)."""
    import psutil

    kids = [p for p in psutil.Process(nanny_pid).children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())]
    return sorted(kids, key=lambda p: p.create_time())


def test_a_worker_killed_under_its_nanny_registers_again_within_5s(tmp_path_factory):
    """Kubernetes kills worker processes, not only pods: the nanny starts a new one,
    which must be back on the scheduler within 5 s, under its old name, every time."""
    with make_cluster(tmp_path_factory, "renanny", nanny=True) as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            time.sleep(1)  # let stock nannies finish starting (see the test above)
            names = sorted(w["name"] for w in c.scheduler_info()["workers"].values())
            for round_ in range(3):
                nanny = cluster.procs[1 + round_ % 3]
                victims = _worker_processes(nanny.pid)
                assert victims, f"no worker process under nanny {nanny.pid}"
                before = set(c.scheduler_info()["workers"])
                victims[-1].kill()
                t0 = time.monotonic()
                # The dead worker leaves, and a new one (a new address) joins.
                deadline = t0 + 5
                while time.monotonic() < deadline:
                    now = c.scheduler_info()["workers"]
                    if len(now) == 3 and set(now) != before:
                        break
                    time.sleep(0.05)
                took = time.monotonic() - t0
                now = c.scheduler_info()["workers"]
                assert len(now) == 3 and set(now) != before, (round_, took, now.keys())
                assert sorted(w["name"] for w in now.values()) == names
                assert c.submit(lambda v: v + 1, round_, pure=False).result(timeout=30) == round_ + 1


def _tree(counter: str, leaves: int):
    """A dask.delayed binary tree of 2 * leaves - 1 tasks: leaves that sleep 2 ms, then
    pairwise adds. Every task appends a byte to `counter`, so the test knows exactly how
    far the graph has run."""
    import dask

    def mark(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"x")
        os.close(fd)

    def leaf(i, path):
        time.sleep(0.002)
        mark(path)
        return i

    def add(a, b, path):
        mark(path)
        return a + b

    level = [dask.delayed(leaf, pure=False)(i, counter) for i in range(leaves)]
    while len(level) > 1:
        pairs = [dask.delayed(add, pure=False)(level[j], level[j + 1], counter)
                 for j in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


# 999 tasks: big enough that a kill at 50 % lands among hundreds of running and queued
# tasks, small enough for five loops per case in make test (1.5-3 s a run on this 2-core
# machine, against 5-7.5 s for the 3,999-task tree of the original report).
# DN_KILL_LEAVES changes it (2000: the 3,999-task tree of the original report).
_TREE_LEAVES = int(os.environ.get("DN_KILL_LEAVES", "500"))

# Repetitions per case of the tree test in make test: 20 runs per cluster kind on our own
# scheduler (4 cases), fewer where the scheduler under test is stock. tests/soak repeats
# it 100 times per case to catch rarer hangs.
_KILL_LOOPS = {"native": 5, "native-scheduler": 5, "mixed": 2, "stock-scheduler": 1}


def kill_loops() -> int:
    """DN_KILL_LOOPS, or the default of this cluster kind."""
    return int(os.environ.get("DN_KILL_LOOPS", _KILL_LOOPS[config()]))


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


def _wait_for_new_worker(c: Client, before: set, timeout: float) -> None:
    """Wait until the scheduler has 3 running workers again, one of them new (the dead
    worker gone, its replacement or restart registered)."""
    deadline = time.monotonic() + timeout
    while True:
        now = c.scheduler_info(n_workers=-1)["workers"]
        running = {a for a, w in now.items() if w.get("status", "running") == "running"}
        if len(running) == 3 and running != before:
            return
        assert time.monotonic() < deadline, (
            f"no third worker {timeout}s after the kill: {sorted(now)} (before: {sorted(before)})")
        time.sleep(0.05)


@pytest.mark.parametrize("fraction", [0.5, 0.9])
@pytest.mark.parametrize("mode", ["process-group", "under-nanny"])
def test_a_worker_killed_mid_tree_never_hangs_the_graph(tmp_path_factory, tmp_path, mode,
                                                        fraction):
    """SIGKILL one worker when a fraction of a 999-task tree has run: either its whole
    process group (a pod gone) or only the worker process under its nanny (an OOM kill).
    The result must be exact, within a bound that fails the test instead of hanging it.
    A task handed to the worker being removed used to stay processing on it for good.

    One cluster serves every loop. The nanny restarts the killed worker process; a killed
    process group gets a replacement worker of the same kind at once, as Kubernetes
    replaces a pod, so it may join while the graph recovers. The next loop starts once 3
    workers run again, the killed one gone. DN_KILL_LOOPS overrides the loops per case
    (kill_loops())."""
    loops = kill_loops()
    total = 2 * _TREE_LEAVES - 1
    nanny = mode == "under-nanny"
    with make_cluster(tmp_path_factory, f"kill-{mode}", nanny=nanny) as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            if nanny:
                time.sleep(1)  # let stock nannies finish starting (see above)
            for loop in range(loops):
                where = (mode, fraction, f"loop {loop + 1} of {loops}")
                counter = str(tmp_path / f"counter-{loop}")
                before = set(c.scheduler_info(n_workers=-1)["workers"])
                fut = c.compute(_tree(counter, _TREE_LEAVES))
                deadline = time.monotonic() + 60
                while _size(counter) < fraction * total:
                    assert time.monotonic() < deadline, ("the tree did not get that far", where)
                    assert not fut.done(), ("finished before the kill", where)
                    time.sleep(0.005)
                victim = cluster.live_workers()[loop % 3]
                if nanny:
                    _worker_processes(victim.pid)[-1].kill()
                else:
                    os.killpg(victim.pid, signal.SIGKILL)
                    victim.wait()
                    # Same kind as the victim (mixed clusters).
                    cluster.add_worker(victim.args[:victim.args.index(cluster.address)])
                assert fut.result(timeout=60) == sum(range(_TREE_LEAVES)), where
                del fut
                _wait_for_new_worker(c, before, timeout=60)
