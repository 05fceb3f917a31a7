"""Worker churn: worker processes killed at random (Poisson, mean 2 s apart) under their
nannies while a 10,000-task graph runs. The result must be exact, and the scheduler must
end up holding what it held before: its memory back near its level after the same graph
without kills, no file descriptor more than it had, no connection to a dead process."""
from __future__ import annotations

import os
import random
import threading
import time

import psutil
from distributed import Client, as_completed

from compat_cluster import config, make_cluster

# 1,250 groups of 8 tasks (4 leaves, 2 adds, their add, a check), one graph of 10,000
# tasks whose group results the client gathers as they finish (the warm-up runs the same
# graph, so the test stays near 40 s where stock workers or a stock scheduler pay about
# 2 ms of CPU a task on this 2-core machine). A kill costs the lost
# groups' work only: in one deep tree a kill every 2 s loses more finished partial sums
# than the workers redo in that time, and stock dask never finishes it either.
_GROUPS = 1250
# Each leaf sleeps this long, so the graph runs 9-15 s unkilled on every cluster here and
# sees 6 or more kills: native workers run a task in a fraction of a stock worker's time.
_LEAF_SECONDS = {"native": 0.006, "mixed": 0.003}.get(config(), 0.001)
_MEAN_KILL_INTERVAL = 2.0  # seconds
# A worker is killed only once it has been registered this long: a stock nanny gives up
# for good on a worker process that dies before telling it that it started (see
# test_worker_loss.py), which would leave the cluster a worker short for good.
_MIN_WORKER_AGE = 1.0
# RSS may exceed its level after the warm-up by this much: freed memory stays with malloc
# and pymalloc, and how much was live at the peak depends on the kills (recomputation
# keeps more keys in memory at once). A scheduler that kept this graph's tasks would fail:
# the native scheduler's RSS grows by about 50 MB while it holds a 10,000-task graph.
_RSS_SLACK = (1.25, 30.0)  # factor, MB: whichever allows more
# Sockets may exceed their count after the warm-up by one per worker: a connection pool
# keeps a connection it opened to a live peer (stock's scheduler was seen with one more).
# A connection left to a dead peer, the leak churn causes, fails the stale check instead.
_SOCKET_SLACK = 3


def _groups(n: int) -> list:
    """n delayed group results; group g returns (g, 16 g + 6), the sum of its leaves."""
    import dask

    def leaf(i, seconds):
        time.sleep(seconds)
        return i

    def add(a, b):
        return a + b

    def check(g, total):
        return g, total

    out = []
    for g in range(n):
        a, b, c, d = (dask.delayed(leaf, pure=False)(4 * g + k, _LEAF_SECONDS) for k in range(4))
        ab = dask.delayed(add, pure=False)(a, b)
        cd = dask.delayed(add, pure=False)(c, d)
        out.append(dask.delayed(check, pure=False)(g, dask.delayed(add, pure=False)(ab, cd)))
    return out


def _run_groups(c: Client, n: int, timeout: float) -> None:
    """Compute the groups, gathering each result as it finishes (and letting it go), and
    check every one."""
    futures = {f.key: f for f in c.compute(_groups(n))}
    seen = set()
    for batch in as_completed(list(futures.values()), with_results=True,
                              timeout=timeout).batches():
        for fut, (g, total) in batch:
            assert total == 16 * g + 6, (g, total)
            assert g not in seen, g
            seen.add(g)
            del futures[fut.key]
    assert len(seen) == n


class Resources:
    """What a process holds: resident memory, file descriptors, and its TCP sockets."""

    def __init__(self, pid: int):
        with open(f"/proc/{pid}/status") as f:
            self.rss_mb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
        self.fds = len(os.listdir(f"/proc/{pid}/fd"))
        conns = psutil.Process(pid).net_connections(kind="tcp")
        self.sockets = len(conns)
        self.non_socket_fds = self.fds - self.sockets
        # Every TCP endpoint on this machine that a live process owns.
        live = {c.laddr for c in psutil.net_connections(kind="tcp") if c.pid}
        self.stale = sorted(f"{c.raddr.ip}:{c.raddr.port} {c.status}" for c in conns
                            if c.status == psutil.CONN_CLOSE_WAIT
                            or (c.raddr and c.raddr not in live))

    def __repr__(self) -> str:
        return (f"RSS {self.rss_mb:.1f} MB, {self.fds} fds ({self.sockets} TCP sockets), "
                f"stale connections {self.stale}")


def _quiet_resources(pid: int, ok, timeout: float = 15) -> Resources:
    """Poll the scheduler's resources until `ok(r)` holds for one second running (what the
    dead workers' connections and the client's leave behind takes a moment to close), or
    return the last reading after `timeout`."""
    deadline = time.monotonic() + timeout
    since = None
    while True:
        r = Resources(pid)
        if ok(r):
            since = since or time.monotonic()
            if time.monotonic() - since >= 1:
                return r
        else:
            since = None
        if time.monotonic() > deadline:
            return r
        time.sleep(0.1)


class Churn(threading.Thread):
    """Kill worker processes under their nannies at Poisson times until stopped. Counts
    `kills`, and `skipped` arrivals that found no worker registered long enough."""

    def __init__(self, cluster, c: Client, rng: random.Random):
        super().__init__(daemon=True)
        self.cluster, self.c, self.rng = cluster, c, rng
        self.kills = self.skipped = 0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)
        assert not self.is_alive(), "the kill thread did not stop"
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # re-raised in the test by stop()
            self.error = e

    def _run(self) -> None:
        registered: dict[str, float] = {}  # worker address -> when first seen
        next_kill = time.monotonic() + self.rng.expovariate(1 / _MEAN_KILL_INTERVAL)
        while not self._halt.wait(0.1):
            now = time.monotonic()
            workers = self.c.scheduler_info(n_workers=-1)["workers"]
            for addr in workers:
                registered.setdefault(addr, now)
            if now < next_kill:
                continue
            next_kill = now + self.rng.expovariate(1 / _MEAN_KILL_INTERVAL)
            old_enough = {w["name"] for a, w in workers.items()
                          if now - registered[a] >= _MIN_WORKER_AGE}
            nannies = [p for p in self.cluster.live_workers()
                       if p.args[p.args.index("--name") + 1] in old_enough]
            kids = []
            if nannies:
                nanny = self.rng.choice(nannies)
                kids = [p for p in psutil.Process(nanny.pid).children(recursive=True)
                        if "resource_tracker" not in " ".join(p.cmdline())]
            if not kids:
                self.skipped += 1
                continue
            max(kids, key=lambda p: p.create_time()).kill()
            self.kills += 1


def test_worker_churn_leaves_the_scheduler_as_it_found_it(tmp_path_factory, monkeypatch):
    """Workers die as often as pods do on a busy Kubernetes cluster; a task may see many
    deaths (allowed-failures 1000), yet every group must come back exactly once and right,
    and the scheduler keep nothing of the dead."""
    monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "1000")
    seed = int(os.environ.get("DN_CHURN_SEED", "17"))
    with make_cluster(tmp_path_factory, "churn", nanny=True) as cluster:
        pid = cluster.procs[0].pid
        # Warm-up: the same graph with no kills, then no client, sets the baseline.
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            t0 = time.monotonic()
            _run_groups(c, _GROUPS, timeout=120)
            warm = time.monotonic() - t0
        base = _quiet_resources(pid, lambda r: not r.stale)
        assert not base.stale, f"after the warm-up: {base}"

        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            churn = Churn(cluster, c, random.Random(seed))
            t0 = time.monotonic()
            churn.start()
            try:
                _run_groups(c, _GROUPS, timeout=120)
            finally:
                churn.stop()
            where = (f"seed {seed}: {churn.kills} kills ({churn.skipped} skipped) in "
                     f"{time.monotonic() - t0:.1f} s (unkilled: {warm:.1f} s)")
            assert churn.kills >= 3, f"too few kills to call it churn; {where}"
            c.wait_for_workers(3, timeout=60)

        rss_limit = max(base.rss_mb * _RSS_SLACK[0], base.rss_mb + _RSS_SLACK[1])
        socket_limit = base.sockets + _SOCKET_SLACK
        after = _quiet_resources(pid, lambda r: not r.stale and r.rss_mb <= rss_limit
                                 and r.non_socket_fds == base.non_socket_fds
                                 and r.sockets <= socket_limit)
        print(f"churn, {where}: before {base}; after {after}")
        assert not after.stale, f"{where}: connections to dead peers: {after}; before: {base}"
        assert after.non_socket_fds == base.non_socket_fds, f"{where}: {after}; before: {base}"
        assert after.sockets <= socket_limit, f"{where}: {after}; before: {base}"
        assert after.rss_mb <= rss_limit, (
            f"{where}: RSS over {rss_limit:.1f} MB: {after}; before: {base}")
