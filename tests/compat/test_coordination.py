"""Coordination primitives (Lock, Semaphore, MultiLock, Event, Queue, Variable) through the
stock client: the same code runs against a stock cluster started here and against the
cluster of this run's kind, and must see the same results and the same exception types.

Uses from inside tasks need a client in the task (get_client()), which native workers do
not offer yet; those tests skip on kinds with native workers."""
from __future__ import annotations

import operator
import time
import uuid

import pytest
from distributed import Event, Lock, MultiLock, Queue, Semaphore, Variable, wait

from compat_cluster import has_native_workers

needs_client_in_tasks = pytest.mark.skipif(
    has_native_workers(), reason="tasks on native workers have no get_client() yet")


def _both(stock_client, client, fn):
    # Names are unique per run, so the two clusters never share state by accident.
    return fn(stock_client, uuid.uuid4().hex), fn(client, uuid.uuid4().hex)


def _raises(fn, *args, **kwargs):
    """What a call gives: its value, or its exception's type name and text."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return (type(e).__name__, str(e))


def _lock(c, name):
    return Lock(name, scheduler_rpc=c.scheduler, loop=c.loop)


def _semaphore(c, name, max_leases):
    return Semaphore(max_leases=max_leases, name=name, scheduler_rpc=c.scheduler, loop=c.loop)


def test_lock(stock_client, client):
    def run(c, name):
        a, b = _lock(c, name), _lock(c, name)
        out = [a.acquire(timeout=2), a.locked(), b.acquire(blocking=False),
               b.acquire(timeout=0.2), _raises(b.acquire, blocking=False, timeout=1)]
        a.release()
        out += [a.locked(), b.acquire(timeout=2), b.locked()]
        b.release()
        out += [_raises(b.release), b.locked()]
        a.close()
        return out

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert stock[:4] == [True, True, False, False]


def test_semaphore_limits_and_errors(stock_client, client):
    def run(c, name):
        s = _semaphore(c, name, 2)
        out = [s.acquire(timeout=1), s.acquire(timeout=1), s.acquire(timeout=0.2), s.get_value()]
        out.append(s.release())
        out += [s.get_value(), s.acquire(timeout=1), s.get_value()]
        out.append(_raises(_semaphore(c, name, 3).register))  # ValueError: max leases differ
        s.release(), s.release()
        out += [_raises(s.release), s.get_value()]
        s.close()
        out.append(s.get_value())
        return out

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert stock[:4] == [True, True, False, 2]
    assert stock[8] == ("ValueError", "Inconsistent max leases: 3, expected: 2")


@needs_client_in_tasks
def test_semaphore_under_contention_from_tasks(stock_client, client):
    def run(c, name):
        def _hold_lease(i, sem):  # local: pickled by value, the scheduler cannot import us
            with sem:
                held = sem.get_value()
                time.sleep(0.1)
            return held

        sem = _semaphore(c, name, 2)
        held = c.gather(c.map(_hold_lease, range(6), sem=sem, pure=False))
        out = (max(held) <= 2, min(held) >= 1, sem.get_value())
        sem.close()
        return out

    stock, native = _both(stock_client, client, run)
    assert stock == native == (True, True, 0)


def test_multi_lock(stock_client, client):
    def run(c, name):
        x, y, z = (f"{name}-{n}" for n in "xyz")
        a, b = MultiLock([x, y], client=c), MultiLock([y, z], client=c)
        out = [a.acquire(timeout=2), b.acquire(blocking=False)]
        # b's acquire returned False, but the client counts it as locked: its release
        # reaches the scheduler, which knows no such request.
        out.append(_raises(b.release)[0])
        out.append(b.acquire(timeout=0.2))
        b._locked = False
        out.append(MultiLock([y, z], client=c).acquire(num_locks=1, timeout=2))  # z is free
        a.release()
        d = MultiLock([x], client=c)
        out += [d.acquire(timeout=2), _raises(MultiLock([x], client=c).release)]
        d.release()
        return out

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert stock[:4] == [True, False, "KeyError", False]


def test_event(stock_client, client):
    def run(c, name):
        ev = Event(name, client=c)
        out = [ev.is_set(), ev.wait(timeout=0.2)]
        ev.set()
        out += [ev.is_set(), ev.wait(timeout=1), ev.wait(0), Event(name, client=c).is_set()]
        ev.clear()
        out += [ev.is_set(), ev.wait(timeout=0.1)]
        return out

    stock, native = _both(stock_client, client, run)
    assert stock == native == [False, False, True, True, True, True, False, False]


@needs_client_in_tasks
def test_event_set_from_a_task(stock_client, client):
    def run(c, name):
        def _set_event(name):
            Event(name).set()
            return True

        ev = Event(name, client=c)
        f = c.submit(_set_event, name, pure=False)
        return [ev.wait(timeout=10), f.result(), ev.is_set()]

    stock, native = _both(stock_client, client, run)
    assert stock == native == [True, True, True]


def test_queue(stock_client, client):
    def run(c, name):
        def _fail(x):
            raise ZeroDivisionError(f"no {x}")

        q = Queue(name, client=c)
        f = c.submit(operator.add, 1, 2, pure=False)
        key = f.key
        q.put(1)
        q.put("two")
        q.put([3, {"x": 4}])
        q.put(f)
        del f  # the queue keeps the key alive
        time.sleep(0.2)
        out = [q.qsize(), q.get(), q.get(timeout=1)]
        batch = q.get(batch=True)
        out.append([(type(v).__name__, v.result()) if hasattr(v, "result") else v
                    for v in batch])
        out.append(batch[-1].key == key)
        out += [q.qsize(), _raises(q.get, timeout=0.2), q.get(batch=True)]
        q.put(5)
        q.put(6)
        out += [q.get(batch=2), _raises(q.get, batch=2, timeout=1)]
        bad = c.submit(_fail, 7, pure=False)
        wait([bad])
        q.put(bad)
        got = q.get()
        out += [got.status, repr(got.exception())]
        small = Queue(f"{name}-small", client=c, maxsize=1)
        small.put(1)
        out += [_raises(small.put, 2, timeout=0.2), small.qsize()]
        q.close()
        small.close()
        return out

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert stock[1:3] == [1, "two"]


def test_variable(stock_client, client):
    def run(c, name):
        v = Variable(name, client=c)
        out = [_raises(v.get, timeout=0.2)]
        v.set(42)
        out.append(v.get())
        out.append(Variable(name, client=c).get(timeout=1))
        f = c.submit(operator.mul, 6, 7, pure=False)
        key = f.key
        v.set(f)
        del f  # the variable keeps the key alive
        time.sleep(0.2)
        g = v.get(timeout=1)
        out += [g.key == key, g.result()]
        v.set({"plain": [1, 2]})
        del g
        time.sleep(0.2)
        out.append(v.get())
        v.delete()
        time.sleep(0.2)
        out.append(_raises(v.get, timeout=0.2))
        return out

    stock, native = _both(stock_client, client, run)
    assert stock == native
    assert stock[0][0] == "TimeoutError" and stock[1:] == [42, 42, True, 42, {"plain": (1, 2)},
                                                          stock[0]]
