"""Every handler the installed stock Scheduler, Worker and Nanny register is served by our
binaries or refused on purpose, each refusal is in docs/known-gaps.md with its reason, and
the stock client gets NotImplementedError naming the feature, never "No handler".

The stock lists come from the installed distributed (unstarted objects, in a subprocess),
so a release that adds a handler fails this test until the binaries serve or refuse it.
Ours come from `--list-handlers`, which reads the binaries' dispatch tables. The native
nanny has no listener; the worker binary lists it under "nanny".
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compat_cluster import config, has_native_workers
from dask_native.binaries import native_binary

KNOWN_GAPS = Path(__file__).resolve().parents[2] / "docs" / "known-gaps.md"

# Construct, never start: the handler dicts are filled in the constructors, extensions
# included. Run from a temporary directory (inside distributed/ it would shadow stdlib
# modules) and in its own process (a Scheduler changes process-wide state).
STOCK_HANDLERS = """
import asyncio, json
from distributed import Nanny, Scheduler, Worker

async def main():
    s = Scheduler(validate=False, dashboard=False, dashboard_address=None)
    w = Worker("tcp://127.0.0.1:1", dashboard=False)
    n = Nanny("tcp://127.0.0.1:1", dashboard=False)
    return {name: {"rpc": sorted(obj.handlers), "stream": sorted(obj.stream_handlers)}
            for name, obj in [("scheduler", s), ("worker", w), ("nanny", n)]}

print(json.dumps(asyncio.run(main())))
"""


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    r = subprocess.run([sys.executable, "-c", STOCK_HANDLERS], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path_factory.mktemp("stock_handlers"))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def listing(binary: str) -> dict:
    r = subprocess.run([native_binary(binary), "--list-handlers"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def ours():
    worker = listing("dask-native-worker")
    return {"scheduler": listing("dask-native-scheduler"),
            "worker": {"rpc": worker["rpc"], "stream": worker["stream"]},
            "nanny": worker["nanny"]}


@pytest.mark.parametrize("server", ["scheduler", "worker", "nanny"])
@pytest.mark.parametrize("kind", ["rpc", "stream"])
def test_every_stock_handler_is_served_or_refused(stock, ours, server, kind):
    mine = ours[server][kind]
    served, refused = set(mine["served"]), set(mine["refused"])
    assert not served & refused, f"both served and refused: {sorted(served & refused)}"
    uncovered = sorted(set(stock[server][kind]) - served - refused)
    assert not uncovered, (
        f"stock {server} {kind} handlers neither served nor refused by dask-native: "
        f"{uncovered}; serve them, or refuse them in the binary's refusal table and in "
        f"docs/known-gaps.md")
    print(f"{server} {kind}: stock {len(stock[server][kind])}, served "
          f"{len(set(stock[server][kind]) & served)}, refused {len(refused)}")


def test_every_refusal_is_documented_with_its_reason(ours):
    text = KNOWN_GAPS.read_text()
    section = text.split("\n## Refused on purpose\n", 1)[1].split("\n## ", 1)[0]
    lines = [" ".join(item.split()) for item in re.split(r"\n(?=- )", section)]
    missing = []
    for server, kinds in ours.items():
        for kind, mine in kinds.items():
            for op, why in mine["refused"].items():
                assert why["feature"] and why["reason"], (server, kind, op)
                if not any(f"`{op}`" in ln and f"({why['feature']}): {why['reason']}." in ln
                           for ln in lines):
                    missing.append(f"{server} {kind} {op}: ({why['feature']}): {why['reason']}")
    assert not missing, "not in docs/known-gaps.md, Refused on purpose:\n" + "\n".join(missing)


def call(client, rpc, op):
    return client.sync(getattr(rpc, op))


@pytest.mark.skipif(config() == "stock-scheduler", reason="the scheduler is stock here")
def test_refused_scheduler_rpcs_raise_not_implemented_naming_the_feature(client, ours):
    refused = ours["scheduler"]["rpc"]["refused"]
    assert refused
    for op, why in refused.items():
        with pytest.raises(NotImplementedError) as e:
            call(client, client.scheduler, op)
        assert why["feature"] in str(e.value) and f"'{op}'" in str(e.value), str(e.value)
        assert "known-gaps.md" in str(e.value)
    # An op stock does not have either is still an error that names it.
    with pytest.raises(Exception, match="no_such_op"):
        call(client, client.scheduler, "no_such_op")


@pytest.mark.skipif(not has_native_workers(), reason="no native workers here")
def test_refused_worker_rpcs_raise_not_implemented_naming_the_feature(client, ours):
    workers = client.scheduler_info()["workers"]
    native = [a for a, w in workers.items() if "dask_native" in w["metrics"]]
    assert native
    rpc = client.rpc(native[0])
    refused = ours["worker"]["rpc"]["refused"]
    assert refused
    for op, why in refused.items():
        with pytest.raises(NotImplementedError) as e:
            call(client, rpc, op)
        assert why["feature"] in str(e.value) and f"'{op}'" in str(e.value), str(e.value)
    reply = call(client, rpc, "no_such_op")  # the worker's unknown-op reply is a value
    assert reply["status"] == "error" and "no_such_op" in str(reply["exception"])
