"""A task that runs long (or is stuck) never hides its worker: the worker keeps
heartbeating, answers Client.call_stack with where the task is, and keeps serving its
other results to peers while the task holds a thread (and, in pure Python, mostly the
GIL)."""
from __future__ import annotations

import time

import pytest


def _functions():
    """(spin, payload), defined here so that they travel by value: the scheduler and
    the workers cannot import this test module."""
    def spin(flag: str, limit: float) -> str:
        # Pure Python, so it holds the GIL except at the interpreter's switch interval;
        # ends when the test creates `flag` (or after `limit` seconds: it cannot leak).
        import os
        import time

        end = time.time() + limit
        n = 0
        while not os.path.exists(flag) and time.time() < end:
            n += 1
        return "spun"

    def payload(n):
        return {"values": list(range(n))}  # a Python object: it stays in Python

    return spin, payload


@pytest.fixture
def spinning(client, tmp_path):
    """(future of a spinning task, a result held in the spinning worker's Python made
    before it, the workers, sorted: the spinning one first)."""
    flag = str(tmp_path / "stop")
    _spin, _payload = _functions()
    workers = sorted(client.scheduler_info()["workers"])
    data = client.submit(_payload, 1000, workers=[workers[0]], pure=False)
    data.result(timeout=30)
    fut = client.submit(_spin, flag, 60, workers=[workers[0]], pure=False)
    deadline = time.time() + 30
    while fut.key not in client.processing().get(workers[0], []):
        assert time.time() < deadline, "the task never started"
        time.sleep(0.05)
    time.sleep(1)  # well inside the loop
    yield fut, data, workers
    open(flag, "w").close()
    assert fut.result(timeout=30) == "spun"


def test_call_stack_shows_a_running_python_task(client, spinning):
    fut, _, workers = spinning
    t0 = time.time()
    stacks = client.call_stack()
    assert time.time() - t0 < 5
    assert list(stacks) == [workers[0]], stacks
    lines = stacks[workers[0]][fut.key]
    assert any("in spin" in line for line in lines), lines
    # Asked by future: the same task, and nothing else.
    assert list(client.call_stack([fut])[workers[0]]) == [fut.key]


def test_worker_keeps_heartbeating_and_serving_data_while_a_task_spins(client, spinning):
    fut, data, workers = spinning
    busy, other = workers[0], workers[1]
    # Another worker fetches a result the spinning worker holds in its Python.
    t0 = time.time()
    assert client.submit(lambda d: len(d["values"]), data, workers=[other],
                         pure=False).result(timeout=10) == 1000
    assert time.time() - t0 < 10
    seen = client.scheduler_info()["workers"][busy]["last_seen"]
    time.sleep(3)
    assert client.scheduler_info()["workers"][busy]["last_seen"] > seen
    assert fut.status == "pending"
