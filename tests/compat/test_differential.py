"""Differential tests: the same client code against a stock cluster (stock scheduler,
3 stock workers) and the native-scheduler cluster, both started here; what the client
sees must be the same."""
from __future__ import annotations

import operator

import dask.array as da
import numpy as np
import pytest



def _both(stock_client, client, fn):
    return fn(stock_client), fn(client)


def _arrays(c):
    x = da.random.RandomState(3).random_sample((400, 300), chunks=(100, 75))
    exprs = [x.sum(), x.mean(axis=0), x.std(), (x > 0.5).sum(axis=1), x.argmax(),
             (x.T @ x)[:5, :5], x[::3, 10:].max(), x.astype("f4").min()]
    return c.compute(exprs, sync=True)


def test_array_results_identical(stock_client, client):
    a, b = _both(stock_client, client, _arrays)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert type(x) is type(y) and getattr(x, "dtype", None) == getattr(y, "dtype", None)


def test_futures_and_errors_identical(stock_client, client):
    def run(c):
        out = {}
        out["map"] = c.gather(c.map(operator.mul, range(20), range(20)))
        s = c.scatter({"k": 5})
        out["scatter"] = c.submit(operator.add, s["k"], 1).result()

        def fail(v):
            raise KeyError(f"missing {v}")

        f = c.submit(fail, 7, pure=False)
        exc = f.exception()
        out["exc"] = (type(exc).__name__, str(exc))
        out["status"] = f.status
        out["dependent"] = type(c.submit(operator.neg, f).exception()).__name__
        return out

    a, b = _both(stock_client, client, run)
    assert a == b


def test_scheduler_info_shape_identical(stock_client, client):
    a, b = _both(stock_client, client, lambda c: c.scheduler_info())
    top_keys = {"type", "id", "address", "services", "started", "n_workers", "total_threads",
                "total_memory", "workers"}
    assert top_keys <= set(a) and top_keys <= set(b)
    wa, wb = next(iter(a["workers"].values())), next(iter(b["workers"].values()))
    needed = {"type", "id", "host", "resources", "local_directory", "name", "nthreads",
              "memory_limit", "last_seen", "services", "metrics", "status", "nanny"}
    assert needed <= set(wa) and needed <= set(wb)
    assert a["n_workers"] == b["n_workers"] == 3


def test_datasets_identical(stock_client, client):
    def run(c):
        f = c.submit(operator.add, 2, 3)
        c.publish_dataset(answer=f, override=True)
        names = list(c.list_datasets())
        got = c.get_dataset("answer").result()
        c.unpublish_dataset("answer")
        return names, got, list(c.list_datasets())

    stock, native = _both(stock_client, client, run)
    assert stock == native == (["answer"], 5, [])
