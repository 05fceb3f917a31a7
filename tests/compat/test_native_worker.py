"""dask-native-worker itself: spilling under a memory limit, its command line, and
malformed bytes on its listening port. Runs in every cluster that has native workers
(DN_COMPAT_CLUSTER); the suite's other tests run on all of them."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, futures_of, wait

from compat_cluster import make_cluster, native_workers_only
from dask_native.binaries import native_binary

WORKER = native_binary("dask-native-worker")

pytestmark = native_workers_only


def _spilled(c: Client) -> tuple[int, int]:
    """(bytes on disk, bytes of their values in memory) summed over the workers, from
    the heartbeat metrics the scheduler keeps."""
    ws = c.scheduler_info()["workers"].values()
    disk = sum(w["metrics"].get("spilled_bytes", {}).get("disk", 0) for w in ws)
    mem = sum(w["metrics"].get("spilled_bytes", {}).get("memory", 0) for w in ws)
    return disk, mem


def test_spilling_under_a_small_memory_limit_keeps_results_exact(tmp_path_factory):
    # 512 MB of random chunks on 3 workers limited to 300 MB each: the 60% target
    # (180 MB) is below each worker's ~170 MB share plus its interpreter, so chunks go
    # to disk (zstd) and come back for the reductions and the transfers.
    rs = da.random.RandomState(11)
    x = rs.random_sample((8000, 8000), chunks=(500, 500))
    expected_sum = x.sum().compute(scheduler="sync")
    expected_block = x[3000:4100, 250:1300].compute(scheduler="sync")
    with make_cluster(tmp_path_factory, "spill", memory_limit="300MB") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            y = x.persist()
            wait(y)
            deadline = time.time() + 10  # metrics arrive with heartbeats (0.5 s)
            while _spilled(c)[0] == 0 and time.time() < deadline:
                time.sleep(0.25)
            disk, mem = _spilled(c)
            assert disk > 0 and mem > 0, "nothing was spilled"
            assert y.sum().compute() == expected_sum
            np.testing.assert_array_equal(y[3000:4100, 250:1300].compute(), expected_block)
            # Every chunk, read back from memory or straight from its spill file. (One
            # 512 MB concatenation would not fit a 300 MB worker, on stock dask either.)
            full = x.compute(scheduler="sync")
            for f in futures_of(y):
                i, j = f.key[1:]
                np.testing.assert_array_equal(
                    f.result(), full[i * 500:(i + 1) * 500, j * 500:(j + 1) * 500])


def test_unsupported_flag_and_death_timeout():
    r = subprocess.run([WORKER, "tcp://127.0.0.1:1", "--preload", "x.py"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--preload" in r.stderr
    t0 = time.time()
    r = subprocess.run([WORKER, "tcp://127.0.0.1:1", "--death-timeout", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "death timeout" in r.stderr
    assert time.time() - t0 < 30


@pytest.mark.parametrize("junk", [
    b"\x00" * 8,                                   # zero frames
    b"\xff" * 64,                                  # absurd frame counts and lengths
    b"\x01\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\xc1\xc1\xc1\xc1\xc1",
], ids=["zero-frames", "huge-lengths", "bad-msgpack"])
def test_malformed_bytes_to_a_worker_close_only_that_connection(tmp_path_factory, junk):
    with make_cluster(tmp_path_factory, "wjunk", n_workers=1) as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(1, timeout=60)
            addr = next(iter(c.scheduler_info()["workers"]))
            host, port = addr.removeprefix("tcp://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(junk)
                s.settimeout(10)
                closed = False
                try:
                    while s.recv(65536):  # the worker's handshake, then its close
                        pass
                    closed = True
                except ConnectionResetError:
                    closed = True
                except socket.timeout:
                    pass
                # As a stock worker does: bytes that cannot be a message end the comm.
                assert closed, "the worker kept the connection open, waiting for more bytes"
            fut = c.submit(lambda v: v * 2, 21)
            assert fut.result(timeout=30) == 42
            assert addr in c.scheduler_info()["workers"]


def _counters(c: Client) -> dict:
    """{worker: (native tasks, python tasks)} for the native workers, from heartbeats."""
    out = {}
    for addr, w in c.scheduler_info()["workers"].items():
        dn = w["metrics"].get("dask_native")
        if dn is not None:
            out[addr] = (dn["native_tasks"], dn["python_tasks"])
    return out


def _settled_counters(c: Client, previous: dict | None = None) -> dict:
    # Metrics travel with heartbeats (every 0.5 s): wait until two readings agree and
    # differ from `previous`.
    last, deadline = None, time.time() + 15
    while time.time() < deadline:
        now = _counters(c)
        if now == last and now != previous:
            return now
        last = now
        time.sleep(0.6)
    return _counters(c)


def _task_deltas(before: dict, after: dict) -> tuple[int, int]:
    """(native, python) tasks run on all native workers between two readings."""
    native = sum(after[w][0] - before.get(w, (0, 0))[0] for w in after)
    python = sum(after[w][1] - before.get(w, (0, 0))[1] for w in after)
    return native, python


def test_seed_workload_tasks_never_enter_python(client):
    """The seed workload (random chunks, persist, the sum's chunk/partial/aggregate
    tree, finalize and the Alias renames), and mean/var/std on it, run natively on every
    native worker: their Python task counters do not move, their native ones do."""
    # Earlier tests may have left cancelled work draining: start from an idle cluster.
    deadline = time.time() + 60
    while any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.2)
    before = _settled_counters(client)
    assert before, "no native worker reports dask_native metrics"
    x = da.random.random((4000, 4000), chunks=(1000, 1000)).persist()
    total = x.sum().compute()
    assert 0.49 < total / x.size < 0.51
    # mean's chunk/combine/aggregate steps pass dicts between tasks, natively too.
    assert x.mean().compute() == total / x.size or abs(x.mean().compute() - 0.5) < 0.01
    assert x.mean(axis=0).compute().shape == (4000,)
    # So do var and std (moment_chunk / moment_combine / moment_agg, then sqrt).
    assert abs(x.std().compute() - (1 / 12) ** 0.5) < 0.01
    assert x.var(axis=1).compute().shape == (4000,)
    after = _settled_counters(client, before)
    native, python = _task_deltas(before, after)
    assert python == 0, f"{python} seed tasks ran in Python: {before} -> {after}"
    assert native >= 16, f"only {native} tasks ran natively"


def test_argmin_argmax_tasks_never_enter_python(client):
    """argmin/argmax and nanargmin/nanargmax (arg_chunk, arg_combine over structured
    ("vals", "arg") partials fetched from other workers, arg_agg / nanarg_agg) run
    natively on every native worker, NaNs included, with and without keepdims (a 0-d
    result is a numpy scalar, which travels pickled and is read back natively when
    another worker fetches it for the final alias)."""
    deadline = time.time() + 60
    while any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.2)
    before = _settled_counters(client)
    assert before, "no native worker reports dask_native metrics"
    def exprs(x):
        with_nan = da.where(x > 0.9, np.nan, x)
        return [x.argmax(keepdims=True), x.argmax(), x.argmin(axis=0), x.argmax(axis=1, split_every=2),
                with_nan.argmin(keepdims=True), with_nan.argmin(), da.nanargmax(with_nan, keepdims=True),
                da.nanargmax(with_nan),
                da.nanargmin(with_nan, axis=0, split_every=2), da.nanargmax(with_nan, axis=1)]

    x = da.random.RandomState(5).random_sample((1200, 900), chunks=(200, 150))
    got = client.compute(exprs(x.persist()), sync=True)
    expected = dask.compute(*exprs(x), scheduler="sync")
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
        assert type(g) is type(e)
    after = _settled_counters(client, before)
    native, python = _task_deltas(before, after)
    assert python == 0, f"{python} arg-reduction tasks ran in Python: {before} -> {after}"
    assert native >= 100, f"only {native} tasks ran natively"


def test_argmax_structured_partials_travel_natively(client):
    """A structured ("vals", "arg") array sent to a native worker is held natively, is
    sent back as numpy sent it, feeds a native arg_agg, and (on a mixed cluster) reads
    back on a stock worker."""
    from functools import partial

    from dask.array import chunk
    from dask.array.reductions import arg_agg

    info = client.scheduler_info()["workers"]
    native = [a for a, w in info.items() if "dask_native" in w["metrics"]]
    stock = [a for a in info if a not in native]
    rng = np.random.default_rng(3)
    for vals_dtype in ("<f8", "<f4", "<i8"):
        a = np.empty((3, 4), dtype=[("vals", vals_dtype), ("arg", "<i8")])
        a["vals"] = (rng.random((3, 4)) * 100).astype(vals_dtype)
        a["arg"] = rng.integers(0, 1 << 40, (3, 4))
        fut = client.scatter(a, workers=native[:1])
        back = fut.result()
        assert back.dtype == a.dtype and back.shape == a.shape and back.tobytes() == a.tobytes()
        before = _settled_counters(client)
        agg = partial(arg_agg, chunk.argmax, axis=(0, 1), keepdims=False)
        got = client.submit(agg, fut, workers=native[:1], pure=False).result()
        assert got == agg(a) and type(got) is type(agg(a))
        after = _settled_counters(client, before)
        assert _task_deltas(before, after)[1] == 0, (before, after)
        if stock:
            assert client.submit(agg, fut, workers=stock[:1], pure=False).result() == agg(a)


def test_numpy_scalars_fetched_from_another_worker_stay_native(client):
    """A numpy scalar (a full reduction's result) travels pickled, as numpy pickles it;
    a native worker that fetches one reads it natively, so a task taking it there does
    not enter Python, and the value and type are unchanged."""
    import operator

    native = [a for a, w in client.scheduler_info()["workers"].items() if "dask_native" in w["metrics"]]
    if len(native) < 2:
        pytest.skip("needs two native workers")
    x = da.random.RandomState(8).random_sample((600, 600), chunks=(200, 200))
    for expr in (x.sum(), x.max(), x.astype("f4").sum(), (x > 0.5).sum()):
        expected = expr.compute(scheduler="sync")
        total = client.compute(expr, workers=native[:1])
        assert total.result() == expected and type(total.result()) is type(expected)
        before = _settled_counters(client)
        got = client.submit(operator.add, total, 1.0, workers=native[1:2], pure=False).result()
        want = expected + 1.0
        assert got == want and type(got) is type(want)
        after = _settled_counters(client, before)
        assert after[native[1]][1] == before[native[1]][1], (expr, before, after)
        assert after[native[1]][0] > before[native[1]][0], (expr, before, after)


def test_arrays_fetched_from_native_workers_arrive_aligned(client):
    """A native worker sends a large frame outside the message's nosplit length, so a
    stock reader (this client, a stock worker) receives it into a buffer of its own.
    Inside the message's shared buffer an array sits at whatever offset the headers
    leave, and numpy sums an unaligned float64 array of over 8192 elements through its
    buffered loop, in another order: before, 162 of 256 chunks gathered this way summed
    1 ulp away from the same chunk summed in place."""
    native = {a for a, w in client.scheduler_info()["workers"].items()
              if "dask_native" in w.get("metrics", {})}
    assert native, "no native worker reports dask_native metrics"
    x = da.random.RandomState(11).random_sample((4000, 4000), chunks=(500, 500))
    full = x.compute(scheduler="sync")
    y = x.persist()
    wait(y)
    who = client.who_has(y)
    fs = [f for f in futures_of(y) if set(who[f.key]) <= native]
    assert len(fs) >= 16, who
    for f, v in zip(fs, client.gather(fs, direct=True)):
        i, j = f.key[1:]
        assert v.flags.aligned, f.key
        assert v.sum() == np.ascontiguousarray(full[i * 500:(i + 1) * 500, j * 500:(j + 1) * 500]).sum()


def test_python_lets_go_of_every_value_once_its_keys_are_released(client):
    """Freeing a key that only the native side ever held does not wake the worker's
    Python thread (WorkerServer::native_only_); every value Python did hold is dropped
    there too: native chunks handed to Python tasks, Python results shared back with
    the native side, and Python-only results."""
    def python_held_keys() -> int:
        # Keys the worker's embedded Python holds (0 where it is not a native worker).
        runtime = sys.modules.get("dask_native.worker_runtime")
        return len(runtime._store) if runtime is not None else 0

    # Other tests on this session's cluster may still hold values (a published dataset):
    # count this test's against what Python held before it.
    before = client.run(python_held_keys)
    x = da.random.RandomState(5).random_sample((400, 400), chunks=(100, 100))
    expected = ((x.compute(scheduler="sync") * 2 + 1).sum(), x.compute(scheduler="sync")[:100, :100].sum())
    xs = x.persist()
    doubled = xs.map_blocks(lambda b: b * 2)  # Python tasks on native chunks, ndarray results
    total = client.compute((doubled + 1).sum())  # native tasks on Python-made arrays
    corner = client.submit(lambda a: float(a.sum()), futures_of(xs)[0])  # a Python float
    assert total.result() == pytest.approx(expected[0], rel=1e-12)
    assert corner.result() == pytest.approx(expected[1], rel=1e-12)
    del xs, doubled, total, corner
    deadline = time.time() + 30
    def left(held):
        return {w: n - before.get(w, 0) for w, n in held.items() if n > before.get(w, 0)}

    held = client.run(python_held_keys)
    while left(held) and time.time() < deadline:
        time.sleep(0.2)
        held = client.run(python_held_keys)
    assert not left(held), (before, held)



def test_a_python_task_keeps_a_one_thread_worker_to_itself(tmp_path_factory):
    """Short native tasks may queue on the executor ahead of its thread, but never
    beside a Python task: a one-thread worker running a Python task starts no native
    task until it ends, even with hundreds of tiny chunk tasks ready. Their CPU would
    show in the worker's threads other than this one and the event loop (the main
    thread, which receives them)."""

    def other_threads_cpu_while_sleeping(seconds: float) -> float:
        import os
        import threading
        import time as t

        skip = {threading.get_native_id(), os.getpid()}

        def others() -> int:
            total = 0
            for tid in os.listdir("/proc/self/task"):
                if int(tid) in skip:
                    continue
                try:
                    with open(f"/proc/self/task/{tid}/schedstat") as f:
                        total += int(f.read().split()[0])
                except OSError:  # a thread that just ended
                    pass
            return total

        before = others()
        t.sleep(seconds)
        return (others() - before) / 1e9

    # A cluster of its own: its scheduler validates its whole state after every
    # stimulus, and the session cluster's state has grown by now.
    with make_cluster(tmp_path_factory, "run-ahead", n_workers=2) as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
            workers = c.scheduler_info()["workers"]
            native = [a for a, w in workers.items() if "dask_native" in w["metrics"] and w["nthreads"] == 1]
            if not native:
                pytest.skip("needs a one-thread native worker")
            # 400 chunks of 5000 doubles in the worker's memory: tasks of tens of
            # microseconds, which the worker runs ahead. The chunk sums depend on data
            # held there, so the scheduler sends them all at once.
            x = c.persist(da.random.RandomState(5).random_sample(2_000_000, chunks=5000),
                          workers=native[:1])
            wait(x)
            hold = c.submit(other_threads_cpu_while_sleeping, 3.0, workers=native[:1], pure=False)
            deadline = time.time() + 30
            while not c.processing(workers=native[:1])[native[0]] and time.time() < deadline:
                time.sleep(0.02)
            total = c.compute(x.sum(), workers=native[:1])
            cpu = hold.result()
            assert 0.49 < total.result() / x.size < 0.51
            # Without the rule ~0.016 s (the chunk sums ran); with it ~0.
            assert cpu < 0.005, f"other threads used {cpu:.3f} s of CPU beside a Python task"
