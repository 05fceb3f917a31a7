"""The Client API beyond compute (issue 19), differential against a stock cluster started
here: event topics (log_event, get_events, subscribe_topic, distributed.print/warn),
set/get_metadata, retry, the task stream, nbytes, get_task_status and set_restrictions.
Each call must give the stock result and raise the stock exception type."""
from __future__ import annotations

import os
import time
import uuid
import warnings

import distributed
import pytest
from distributed import get_task_stream

from compat_cluster import has_native_workers

needs_stock_workers = pytest.mark.skipif(
    has_native_workers(),
    reason="needs get_worker() inside the task, which native workers do not provide yet")


def _both(stock_client, client, fn):
    return fn(stock_client), fn(client)


def _unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _raised(fn):
    """The type name and args of what fn raises (None if nothing)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - comparing what each cluster raises
        return type(e).__name__, e.args
    return None


def _settle(futures, timeout=30):
    """Wait until each future is done, on its own client's loop: distributed.wait uses the
    default client, the last one made, whose loop is not the stock client's."""
    for f in futures:
        try:
            f.result(timeout=timeout)
        except Exception:  # noqa: BLE001 - erred futures are settled too
            pass


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


# --- topics -------------------------------------------------------------------------


def test_log_event_and_get_events_identical(stock_client, client):
    def run(c):
        t1, t2 = _unique("dn-topic"), _unique("dn-topic")
        assert c.log_event(t1, {"action": "one", "n": 1}) is None
        c.log_event([t1, t2], "both")
        c.log_event(t2, [1, 2.5, None, "x", b"bytes"])
        one, two = c.get_events(t1), c.get_events(t2)
        every = c.get_events()
        for ts, _ in one + two:
            assert isinstance(ts, float) and abs(ts - time.time()) < 60
        # The same event (time and message) is logged under both topics.
        assert one[1] == two[0]
        return (type(one).__name__, [m for _, m in one], [m for _, m in two],
                [m for _, m in every[t1]], t2 in every, c.get_events(_unique("dn-unused")),
                _raised(lambda: c.log_event("t", object())))

    stock, native = _both(stock_client, client, run)
    assert stock == native


def test_events_are_bounded_per_topic(stock_client, client):
    def run(c):
        topic = _unique("dn-bounded")
        for i in range(1005):  # distributed.admin.low-level-log-length = 1000
            c.sync(c.scheduler.log_event, topic=topic, msg=i)
        got = c.get_events(topic)
        return len(got), got[0][1], got[-1][1]

    stock, native = _both(stock_client, client, run)
    assert stock == native == (1000, 5, 1004)


def test_subscribe_topic_pushes_events_until_unsubscribed(stock_client, client):
    def run(c):
        topic = _unique("dn-sub")
        received = []
        c.subscribe_topic(topic, received.append)
        # The subscription travels on the client's stream; the log_event RPC may
        # overtake it, so log until one arrives.
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            c.log_event(topic, {"first": True})
            time.sleep(0.05)
        assert received, "no event reached the subscriber"
        received.clear()
        c.log_event(topic, {"second": 2})
        assert _wait_for(lambda: received)
        ts, msg = received[0]
        c.unsubscribe_topic(topic)
        time.sleep(0.2)  # let the unsubscribe reach the scheduler
        received.clear()
        c.log_event(topic, "after")
        time.sleep(0.3)
        return (type(received).__name__, isinstance(ts, float), msg, list(received),
                _raised(lambda: c.unsubscribe_topic(_unique("dn-never")))[0])

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert native[2] == {"second": 2} and native[3] == []


@needs_stock_workers
def test_print_and_warn_inside_tasks_reach_the_client(stock_client, client, capsys):
    def task(tag):
        distributed.print("printed", tag, sep="|")
        distributed.warn(f"warned {tag}")
        return tag

    def run(c):
        tag = _unique("tag")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert c.submit(task, tag, pure=False).result(timeout=30) == tag
            assert _wait_for(lambda: any(tag in str(w.message) for w in caught))
        assert _wait_for(lambda: f"printed|{tag}" in capsys.readouterr().out or
                         any(tag in str(m) for _, m in c.get_events("print")))
        prints = [m for _, m in c.get_events("print") if tag in str(m)]
        assert len(prints) == 1
        msg = dict(prints[0])
        assert msg.pop("worker") in c.scheduler_info()["workers"]
        msg["args"] = tuple(a.replace(tag, "TAG") for a in msg["args"])
        return msg

    stock, native = _both(stock_client, client, run)
    assert stock == native


@needs_stock_workers
def test_worker_log_event_says_which_worker(stock_client, client):
    def run(c):
        topic = _unique("dn-worker-topic")

        def log(dask_worker):
            dask_worker.log_event(topic, {"from": "worker"})
            dask_worker.log_event(dask_worker.address, {"own": "topic"})
            dask_worker.log_event(topic, "not a dict")

        addr = next(iter(c.scheduler_info()["workers"]))
        c.run(log, workers=[addr])
        assert _wait_for(lambda: len(c.get_events(topic)) == 2)
        assert _wait_for(lambda: any(m == {"own": "topic"} for _, m in c.get_events(addr)))
        return [m for _, m in c.get_events(topic)], addr

    (stock, stock_addr), (native, native_addr) = _both(stock_client, client, run)
    assert stock == [{"from": "worker", "worker": stock_addr}, "not a dict"]
    assert native == [{"from": "worker", "worker": native_addr}, "not a dict"]


# --- metadata -----------------------------------------------------------------------


def test_metadata_identical(stock_client, client):
    def run(c):
        root = _unique("dn-meta")
        out = []
        c.set_metadata([root, "y"], 123)
        out.append(c.get_metadata(root))
        c.set_metadata([root, "w", "z"], 456)
        out.append(c.get_metadata(root))
        out.append(c.get_metadata([root, "w"]))
        out.append(c.get_metadata((root, "w", "z")))
        c.set_metadata([root, "y", "deeper"], {"d": [1, 2]})  # a scalar becomes a dict
        out.append(c.get_metadata([root, "y"]))
        out.append(c.get_metadata([root, "y", "deeper", "d", 1]))
        out.append(c.get_metadata([root, "missing"], default="fallback"))
        out.append(c.get_metadata("dn-absent", None))
        out.append(_raised(lambda: c.get_metadata([root, "missing"])))
        out.append(_raised(lambda: c.get_metadata("dn-absent")))
        out.append(_raised(lambda: c.get_metadata([root, "w", "z", "q"])))
        out.append(_raised(lambda: c.get_metadata([root, "y", "deeper", "d", 5], default=0)))
        c.set_metadata(root, "scalar")
        out.append(c.get_metadata(root))
        return [repr(x).replace(root, "ROOT") for x in out]

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert "KeyError" in stock[8] and "TypeError" in stock[10] and "IndexError" in stock[11]


# --- retry --------------------------------------------------------------------------


def test_retry_runs_failed_tasks_again(stock_client, client, tmp_path):
    # Nested, so it is pickled by value: neither the schedulers nor the workers can
    # import this test module.
    def _flaky(path):
        if not os.path.exists(path):
            raise ValueError("not yet")
        return 42

    def run(c):
        flag = str(tmp_path / _unique("flag"))
        f = c.submit(_flaky, flag, pure=False)
        g = c.submit(lambda v: v + 1, f, pure=False)
        _settle([f, g])
        before = (f.status, g.status, type(g.exception()).__name__, str(g.exception()))
        open(flag, "w").close()
        assert c.retry([g]) is None  # also retries g's erred input f
        after = (g.result(timeout=30), f.result(timeout=30), f.status, g.status)
        # Retrying a key the scheduler does not know raises its KeyError.
        unknown = _raised(lambda: c.sync(c.scheduler.retry, keys=[_unique("dn-nokey")],
                                         client=c.id))
        # Future.retry of a task that fails again comes back erred again.
        h = c.submit(_flaky, flag + "-never", pure=False)
        _settle([h])
        h.retry()
        _settle([h])
        again = (h.status, type(h.exception()).__name__)
        retry_events = [m for _, m in c.get_events(c.id) if m.get("action") == "retry"]
        return before, after, unknown[0], again, retry_events

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert native[1] == (43, 42, "finished", "finished")
    # One per retry request, the refused one too: stock logs before walking the keys.
    assert native[4] == [{"action": "retry", "count": 1}] * 3


# --- task stream --------------------------------------------------------------------


def _stream_records(c):
    def boom():
        raise ZeroDivisionError("stream")

    c.get_task_stream()  # stock starts recording on the first call; so do we
    with get_task_stream(client=c) as ts:
        futures = c.map(lambda i: i * 2, range(4), pure=False)
        bad = c.submit(boom, pure=False)
        _settle(futures + [bad])
    return ts.data, [f.key for f in futures], bad.key


def test_task_stream_records_have_stocks_shape(stock_client, client):
    def run(c):
        data, keys, bad_key = _stream_records(c)
        by_key = {r["key"]: r for r in data}
        assert set(keys) | {bad_key} <= set(by_key), data
        ok, bad = by_key[keys[0]], by_key[bad_key]
        for r in (ok, bad):
            assert r["worker"] in c.scheduler_info()["workers"]
            compute = [s for s in r["startstops"] if s["action"] == "compute"]
            assert compute and compute[0]["start"] <= compute[0]["stop"]
            assert {"action", "start", "stop"} <= set(compute[0])
        recent = c.get_task_stream(count=2)
        return (sorted(ok), sorted(bad), ok["status"], bad["status"], ok["typename"],
                bad["cause"] == bad_key, bad["exception_text"], len(recent),
                c.sync(c.scheduler.get_task_stream_index) >= len(data))

    stock, native = _both(stock_client, client, run)
    assert stock == native


# --- nbytes, task status, restrictions -----------------------------------------------


def test_nbytes_task_status_and_restrictions_identical(stock_client, client):
    def run(c):
        prefix = _unique("dn-sized")
        futures = [c.submit(bytes, 1000, key=f"{prefix}-{i}") for i in range(3)]
        _settle(futures)
        keys = [f.key for f in futures]
        sizes = c.nbytes(keys, summary=False)
        summary = c.nbytes(keys)
        everything = c.nbytes(summary=False)
        status = c.sync(c.scheduler.get_task_status, keys=keys[:1] + ["dn-nokey"])
        worker = next(iter(c.scheduler_info()["workers"]))
        restricted = c.sync(c.scheduler.set_restrictions, worker={keys[0]: worker})
        return ({k.replace(prefix, "P"): v for k, v in sizes.items()},
                {k.replace(prefix, "P"): v for k, v in summary.items()},
                set(keys) <= set(everything), status[keys[0]], status["dn-nokey"], restricted,
                _raised(lambda: c.nbytes(["dn-nokey"])),
                _raised(lambda: c.sync(c.scheduler.set_restrictions,
                                       worker={"dn-nokey": worker}))[0])

    stock, native = _both(stock_client, client, run)
    assert stock == native
