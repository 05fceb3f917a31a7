"""Annotations the native scheduler honours, and malformed traffic it survives."""
from __future__ import annotations

import socket
import struct
import time

import pytest
from distributed import Client


def test_workers_restriction_and_allow_other_workers(client):
    addrs = sorted(client.scheduler_info()["workers"])
    target = addrs[1]
    futs = client.map(lambda v: v + 1, range(12), workers=[target], pure=False)
    client.gather(futs)
    holders = {w for ws in client.who_has(futs).values() for w in ws}
    assert holders == {target}
    loose = client.map(lambda v: v, range(6), workers=["tcp://10.255.255.1:1"],
                       allow_other_workers=True, pure=False)
    assert client.gather(loose) == list(range(6))


def test_retries(client):
    # Each call records its attempt in a file (tasks may run in any worker process).
    def flaky(x):
        import os
        path = f"/tmp/dn-flaky-{x}"
        tries = int(open(path).read()) if os.path.exists(path) else 0
        with open(path, "w") as f:
            f.write(str(tries + 1))
        if tries < 2:
            raise RuntimeError("flaky")
        return x

    key = time.time_ns()
    assert client.submit(flaky, key, retries=3, pure=False).result() == key
    with pytest.raises(RuntimeError, match="flaky"):
        client.submit(flaky, key + 1, retries=1, pure=False).result()


def test_priority_orders_queued_work(client):
    # Fill every thread, then submit low and high priority tasks; the high ones start
    # first once threads free up.
    import time as _t
    blockers = client.map(lambda i: _t.sleep(1.0), range(6), pure=False)
    low = client.map(lambda i: _t.time(), range(6), priority=-10, pure=False)
    high = client.map(lambda i: _t.time(), range(6), priority=10, pure=False)
    client.gather(blockers)
    lo, hi = client.gather(low), client.gather(high)
    # Queued tasks go out in priority order as slots free up, and each worker runs its
    # ready tasks by priority, so on every worker the high ones start before the low
    # ones. (Across workers, start times race by milliseconds: compare within one.)
    where = client.who_has(low + high)
    starts: dict = {}
    for tag, futs, times in (("hi", high, hi), ("lo", low, lo)):
        for f, t in zip(futs, times):
            starts.setdefault(where[f.key][0], {"hi": [], "lo": []})[tag].append(t)
    for worker, s in starts.items():
        if s["hi"] and s["lo"]:
            assert max(s["hi"]) <= min(s["lo"]), (worker, starts)
    assert sum(bool(s["hi"] and s["lo"]) for s in starts.values()) >= 1, starts


def _frame(payload: bytes) -> bytes:
    return struct.pack("<QQQ", 24 + len(payload), 1, len(payload)) + payload


HANDSHAKE = _frame(b"\x83\xabcompression\xc0\xa6python\x93\x03\x0b\x02\xafpickle-protocol\x05")


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    struct.pack("<QQQ", 24 + 2**40, 1, 2**40),       # claims a terabyte
    HANDSHAKE + _frame(b"\xc1"),                      # invalid msgpack
    HANDSHAKE + _frame(b"\x92\x01\x02"),              # not a map
    HANDSHAKE + _frame(b"\x81\xa2op\xa9no-such-op"),  # unknown op (gets an error reply)
    HANDSHAKE + _frame(b"\x81\xa2op\xafregister-worker"),  # missing fields
    HANDSHAKE + _frame(b"\x82\xa2op\xa6gather\xa4keys\x81\xa1x\x01"),  # wrong field type
    bytes(range(256)) * 8,
    b"\x00" * 8,                                     # zero frames
    b"\xff" * 64,                                    # absurd frame counts and lengths
    # a nosplit length too short to hold a message
    b"\x01\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\xc1\xc1\xc1\xc1\xc1",
])
def test_malformed_bytes_close_one_connection(client, native_cluster, junk):
    host, port = native_cluster.address.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(junk)
        s.settimeout(10)
        closed = False
        try:
            while s.recv(65536):  # the scheduler's handshake, then its close
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        # As the stock scheduler does: bytes that cannot be a message end the comm at
        # once. A scheduler that waits for more bytes fails here instead of passing late.
        assert closed, "the scheduler kept the connection open, waiting for more bytes"
    # The scheduler still serves the existing client and new ones.
    assert client.submit(lambda: 5).result(timeout=30) == 5
    with Client(native_cluster.address, timeout=30) as other:
        assert other.submit(lambda: 6).result(timeout=30) == 6


def test_a_graph_the_scheduler_cannot_deserialize_errs_as_on_stock(client, tmp_path, monkeypatch):
    """A task whose function lives in a module only the client has (pickled by
    reference): the scheduler cannot deserialize the graph. The client gets the stock
    scheduler's RuntimeError, word for word, and the cluster goes on serving."""
    import importlib
    import textwrap

    (tmp_path / "dn_client_only_module.py").write_text("def triple(v):\n    return 3 * v\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("dn_client_only_module")
    fut = client.submit(mod.triple, 2)
    with pytest.raises(RuntimeError) as info:
        fut.result(timeout=30)
    assert str(info.value) == textwrap.dedent("""\
        Error during deserialization of the task graph. This frequently
        occurs if the Scheduler and Client have different environments.
        For more information, see
        https://docs.dask.org/en/stable/deployment-considerations.html#consistent-software-environments
        """)
    assert client.submit(sum, [1, 2]).result(timeout=30) == 3
