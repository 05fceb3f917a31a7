"""The stock dask client against dask-native-scheduler: the core of the compat suite,
which runs on every cluster kind of compat_cluster.py."""
from __future__ import annotations

import operator
import threading
import time

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, as_completed, wait
from distributed.client import FutureCancelledError

from compat_cluster import native_scheduler_only


def test_repr_html_and_scheduler_info(client, native_cluster):
    r = repr(client)
    assert native_cluster.address in r and "processes=3" in r and "threads=3" in r
    html = client._repr_html_()
    assert "Scheduler" in html and native_cluster.address in html
    info = client.scheduler_info()
    assert info["type"] == "Scheduler" and info["address"] == native_cluster.address
    assert len(info["workers"]) == 3
    assert all(w["status"] == "running" and w["nthreads"] == 1 for w in info["workers"].values())
    assert client.dashboard_link.endswith("/status")


def test_seed_workload(client):
    x = da.random.random((20000, 20000), chunks=(2000, 2000)).persist()
    total = x.sum().compute()
    assert abs(total / 4e8 - 0.5) < 1e-3
    # The same persisted chunks summed by the sync scheduler from gathered blocks.
    del x


def test_seeded_random_identical_to_sync(client):
    x = da.random.RandomState(42).random_sample((1000, 800), chunks=(250, 200))
    got = x.compute()
    expected = x.compute(scheduler="sync")
    np.testing.assert_array_equal(got, expected)
    n = da.random.RandomState(7).normal(10, 0.1, size=(500, 500), chunks=100)
    np.testing.assert_array_equal(n.compute(), n.compute(scheduler="sync"))
    u = da.random.RandomState(3).uniform(-2, 3, size=(300, 700), chunks=(100, 300))
    np.testing.assert_array_equal(u.compute(), u.compute(scheduler="sync"))
    g = da.random.default_rng(42).random((900, 500), chunks=(300, 200))
    np.testing.assert_array_equal(g.compute(), g.compute(scheduler="sync"))


def _exprs():
    x = da.random.RandomState(0).random_sample((600, 600), chunks=(100, 150))
    y = da.random.RandomState(1).normal(size=(600, 600), chunks=(150, 100))
    return {
        "sum": x.sum(), "mean": x.mean(), "std": x.std(), "var": y.var(),
        "min": y.min(), "max": y.max(), "prod": (x + 0.5).prod(axis=0),
        "sum_axis0": x.sum(axis=0), "mean_axis1": x.mean(axis=1), "gt_sum": (x > 0.5).sum(),
        "argmax": y.argmax(), "argmin_axis0": y.argmin(axis=0), "any": (x > 0.999).any(),
        "all": (x >= 0).all(), "broadcast": x + x.T - x.mean(axis=0),
        "slice": x[::2, 100:].sum(), "astype": x.astype("float32").sum(),
        "nansum": da.nansum(da.where(x > 0.9, np.nan, x)),
        "nanmean": da.nanmean(da.where(x > 0.9, np.nan, x), axis=0),
        "tree": (x * y).sum(axis=(0, 1), split_every=3), "dot": x.dot(y.T).sum(),
        "f32_sum": x.astype("float32").sum(axis=1), "int_sum": (x * 100).astype("int64").sum(),
        "transpose_slice": (x.T[5:400:3, ::-1] - 1.5).max(axis=1), "sub_div": ((x - y) / 3.0).sum(),
        "ones": da.ones((600, 600), chunks=(100, 150)).sum(), "ones_array": da.ones((300, 200), chunks=100),
        "full": (da.full((600, 600), 2.5, chunks=150) * x).sum(axis=0),
        "zeros_add": (da.zeros((600, 600), chunks=(100, 150)) + x).max(),
        "arange": da.arange(0, 100_003, chunks=10_000), "arange_f": da.arange(0.5, 1000.3, 0.7, chunks=137),
        "arange_sum": (da.arange(-7, 9_999, 3, chunks=1000) * 2).sum(),
        # Arg reductions pass numpy structured ("vals", "arg") partials between tasks.
        "argmax_axis1": y.argmax(axis=1), "argmax_split": y.argmax(axis=0, split_every=2),
        "argmin_tree": x.argmin(split_every=3), "argmax_nan": da.where(x > 0.99, np.nan, y).argmax(),
        "nanargmax": da.nanargmax(da.where(x > 0.9, np.nan, y)),
        "nanargmin_axis0": da.nanargmin(da.where(x > 0.5, np.nan, y), axis=0, split_every=2),
        "argmin_f32": x.astype("float32").argmin(axis=1), "argmax_int": (x * 100).astype("int64").argmax(axis=0),
        "argmax_keepdims": y.argmax(axis=1, keepdims=True),
    }


# Products go through BLAS, whose rounding depends on its inputs' memory layout (and
# thread count): a transposed block a native worker sends arrives C-ordered, where a
# stock worker sends the F-ordered view, so a product of it sums in another order. The
# total is a sum of 360,000 products of about 150 that mostly cancel: seen 8 ulp of
# -3638.3 on the mixed cluster. Everything else must be identical.
_RTOL = {"dot": 1e-12}


@pytest.mark.parametrize("name", list(_exprs()))
def test_array_expressions_equal_sync(client, name):
    expr = _exprs()[name]
    got = client.compute(expr).result()
    expected = expr.compute(scheduler="sync")
    if name in _RTOL:
        np.testing.assert_allclose(got, expected, rtol=_RTOL[name], atol=0)
    else:
        np.testing.assert_array_equal(got, expected)
    assert type(got) is type(expected)


def test_nanargmax_of_an_all_nan_slice_raises_as_dask_does(client):
    x = da.random.RandomState(0).random_sample((60, 50), chunks=(20, 25))
    y = da.where(da.arange(50, chunks=25) == 0, np.nan, x)  # column 0 is all NaN
    with pytest.raises(ValueError, match="All NaN slice encountered"):
        client.compute(da.nanargmax(y, axis=0)).result()
    np.testing.assert_array_equal(client.compute(da.nanargmax(y, axis=1)).result(),
                                  da.nanargmax(y, axis=1).compute(scheduler="sync"))


def test_submit_map_gather_scatter_chains(client):
    inc = lambda v: v + 1  # noqa: E731  (lambdas travel cloudpickled)
    assert client.submit(inc, 1).result() == 2
    futs = client.map(inc, range(50))
    assert client.gather(futs) == list(range(1, 51))
    chain = client.submit(inc, 0)
    for _ in range(20):
        chain = client.submit(inc, chain)
    assert chain.result() == 21
    total = client.submit(sum, futs)
    assert total.result() == sum(range(1, 51))
    # A tree reduction over futures.
    level = futs
    while len(level) > 1:
        level = [client.submit(operator.add, a, b) if b is not None else a
                 for a, b in zip(level[::2], level[1::2] + [None] * (len(level) % 2))]
    assert level[0].result() == sum(range(1, 51))
    data = client.scatter([1, 2, 3])
    assert client.gather(data) == [1, 2, 3]
    arr = client.scatter(np.arange(10), broadcast=True)
    assert client.submit(np.sum, arr).result() == 45
    assert len(client.who_has(arr)[arr.key]) == 3


def test_task_exception_type_message_traceback(client):
    def boom(x):
        raise ValueError(f"boom {x}")

    f = client.submit(boom, 42)
    with pytest.raises(ValueError, match="boom 42") as info:
        f.result()
    assert any("boom" in (frame.name or "") for frame in info.traceback)
    dependent = client.submit(lambda v: v, f)
    with pytest.raises(ValueError, match="boom 42"):
        dependent.result()
    assert f.status == "error"
    exc = f.exception()
    assert isinstance(exc, ValueError)
    assert f.traceback() is not None


def test_as_completed_cancel_release_recompute(client):
    futs = client.map(lambda v: v * 10, range(20))
    seen = sorted(f.result() for f in as_completed(futs))
    assert seen == [v * 10 for v in range(20)]

    slow = client.submit(time.sleep, 5, pure=False)
    client.cancel(slow)
    with pytest.raises(FutureCancelledError):
        slow.result(timeout=10)

    f = client.submit(operator.add, 100, 23)  # pure: the same key every time
    key = f.key
    assert f.result() == 123
    del f
    time.sleep(0.5)
    g = client.submit(operator.add, 100, 23)
    assert g.key == key and g.result() == 123


def test_publish_dataset_and_run(client):
    x = client.submit(lambda: 7)
    client.publish_dataset(seven=x)
    assert "seven" in client.list_datasets()
    with Client(client.scheduler.address, timeout=30) as other:
        assert other.get_dataset("seven").result() == 7
    client.unpublish_dataset("seven")
    assert "seven" not in client.list_datasets()
    pids = client.run(lambda: __import__("os").getpid())
    assert len(pids) == 3 and len(set(pids.values())) == 3


def test_200mb_result(client):
    f = client.submit(np.ones, 25_000_000)  # 200 MB of float64
    out = f.result()
    assert out.nbytes == 200_000_000 and out.sum() == 25_000_000


def test_concurrent_clients_and_shared_keys(client, native_cluster):
    errors = []

    def work(i):
        try:
            with Client(native_cluster.address, timeout=30) as c:
                futs = c.map(lambda v, i=i: v + i, range(30), key=[f"k{i}-{v}" for v in range(30)])
                assert c.gather(futs) == [v + i for v in range(30)]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    with Client(native_cluster.address, timeout=30) as other:
        a = client.submit(lambda: 99, key="shared-key")
        b = other.submit(lambda: 99, key="shared-key")
        assert a.result() == 99 and b.result() == 99
        del a
        time.sleep(0.5)
        assert b.result() == 99  # one client releasing does not hurt the other
        assert other.gather(b) == 99


@native_scheduler_only
def test_other_clients_served_while_a_large_graph_materializes(client, native_cluster):
    big = (da.ones(300_000, chunks=3) + 1).sum()  # 100k chunks, seconds to materialize
    fut = client.compute(big)
    time.sleep(0.3)
    with Client(native_cluster.address, timeout=30) as other:
        t0 = time.perf_counter()
        assert other.submit(operator.mul, 6, 7).result(timeout=30) == 42
        assert other.scheduler_info()["type"] == "Scheduler"
        elapsed = time.perf_counter() - t0
    still_pending = fut.status == "pending"
    client.cancel(fut)
    assert still_pending, "the large graph finished first; the test proves nothing"
    assert elapsed < 2.0, f"a one-task graph waited {elapsed:.1f}s behind the large one"


@pytest.mark.parametrize("how", ["cancel", "client-leaves"])
def test_a_graph_stopped_half_way_leaves_nothing_on_the_scheduler(client, native_cluster, how):
    """A graph cancelled while it runs, or whose client leaves while it runs (a notebook
    kernel restarted mid-compute), is forgotten entirely: finished leaves, waiting
    partials and the total. On a long-lived shared scheduler anything left behind is a
    leak that every later graph pays for."""
    def _slow_inc(x):  # defined here so that it travels by value, not as this module's
        time.sleep(0.05)
        return x + 1

    leaves = [dask.delayed(_slow_inc)(i, dask_key_name=f"leaf-{how}-{i}") for i in range(60)]
    parts = [dask.delayed(sum)(leaves[i:i + 4], dask_key_name=f"part-{how}-{i}")
             for i in range(0, 60, 4)]
    total = dask.delayed(sum)(parts, dask_key_name=f"total-{how}")
    keys = {f"leaf-{how}-{i}" for i in range(60)} | {f"part-{how}-{i}" for i in range(0, 60, 4)}
    keys.add(f"total-{how}")

    def known() -> set:
        return keys & set(client.who_has())

    def leaves_done(c) -> int:
        return sum(1 for k, holders in c.who_has().items() if k in keys and holders)

    with Client(native_cluster.address, timeout=30) as owner:
        fut = (owner if how == "client-leaves" else client).compute(total)
        deadline = time.time() + 30
        while leaves_done(client) < 3 and time.time() < deadline:
            time.sleep(0.02)
        assert fut.status == "pending", "the graph finished first; the test proves nothing"
        assert known(), "the scheduler reports none of the graph's tasks"
        if how == "cancel":
            client.cancel(fut)
    deadline = time.time() + 30
    while known() and time.time() < deadline:
        time.sleep(0.1)
    assert not known(), f"{len(known())} tasks of a stopped graph stay: {sorted(known())[:5]}"


def test_worker_queries_take_names_and_addresses(client):
    """has_what, ncores and processing take workers by address or by name, as the stock
    scheduler's coerce_address does; who_has without futures lists every known task."""
    info = client.scheduler_info()["workers"]
    addr, w = next(iter(sorted(info.items())))
    fut = client.submit(operator.add, 1, 2, workers=[addr], key="on-the-first-worker")
    assert fut.result() == 3
    for who in (addr, w["name"]):
        assert client.has_what(workers=[who]) == {addr: ("on-the-first-worker",)}
        assert client.ncores(workers=[who]) == {addr: w["nthreads"]}
        assert client.processing(workers=[who]) == {addr: ()}
    assert client.has_what(workers=["tcp://127.0.0.1:1"]) == {"tcp://127.0.0.1:1": ()}
    assert client.who_has()["on-the-first-worker"] == (addr,)


def test_futures_know_their_result_types(client):
    """Future.type comes from the type a worker reports with task-finished, which the
    scheduler keeps (one shared copy per type) and forwards with key-in-memory. (A client
    that asks later for a key already in memory gets no type from a stock scheduler, but
    the kept one from ours; that difference is not pinned here.)"""
    futs = [client.submit(np.arange, n) for n in (3, 4)] + [client.submit(operator.add, 1, 2)]
    wait(futs)
    assert [f.type for f in futs] == [np.ndarray, np.ndarray, int]
