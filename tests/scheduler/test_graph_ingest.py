"""How the scheduler's graph ingestion pickles run_specs (dask_native.graph_ingest).

Pure Python: no cluster. The cluster-level behaviour (lambdas, notebook functions and
classes reaching workers) is covered by the compat suite; these pin the writer's two
paths against each other.
"""
from __future__ import annotations

import pickle
import sys
import textwrap

import cloudpickle
import dask.array as da
import pytest
from dask._task_spec import DataNode, GraphNode, Task, convert_legacy_graph

from dask_native.graph_ingest import _RunSpecWriter


def _nodes(collection):
    dsk = convert_legacy_graph(dict(collection.__dask_graph__()))
    return [n if isinstance(n, GraphNode) else DataNode(k, n) for k, n in dsk.items()]


def _hooked_only() -> _RunSpecWriter:
    w = _RunSpecWriter()
    w._plain = None
    return w


def _flat(result):
    data, buffers = result
    return data, [bytes(memoryview(b).cast("B")) for b in buffers]


def test_importable_run_specs_come_out_as_the_hooked_pickler_writes_them():
    nodes = _nodes(da.random.random((40, 40), chunks=10).sum(axis=0) + 1)
    fast, hooked = _RunSpecWriter(), _hooked_only()
    assert fast._plain is not None
    assert [_flat(fast.dumps(n)) for n in nodes] == [_flat(hooked.dumps(n)) for n in nodes]
    assert fast._plain is not None, "an importable graph must stay on the plain pickler"


def test_a_lambda_turns_the_plain_pickler_off_and_still_pickles_by_value():
    w = _RunSpecWriter()
    square = eval("lambda v: v * v")  # noqa: S307  a function no module can name
    first = w.dumps(Task("a", square, 3))
    assert w._plain is None
    again = w.dumps(Task("b", square, 4))
    for (data, buffers), want in ((first, 9), (again, 16)):
        assert pickle.loads(data, buffers=buffers)() == want


def test_a_module_registered_by_value_is_not_pickled_by_reference(tmp_path, monkeypatch):
    (tmp_path / "dn_by_value_mod.py").write_text(textwrap.dedent("""
        def triple(v):
            return 3 * v
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import dn_by_value_mod

    cloudpickle.register_pickle_by_value(dn_by_value_mod)
    try:
        w = _RunSpecWriter()
        assert w._plain is None
        data, buffers = w.dumps(Task("t", dn_by_value_mod.triple, 5))
    finally:
        cloudpickle.unregister_pickle_by_value(dn_by_value_mod)
    # A worker that cannot import the module still gets the function.
    del sys.modules["dn_by_value_mod"]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    assert pickle.loads(data, buffers=buffers)() == 15
    assert "dn_by_value_mod" not in sys.modules


@pytest.mark.parametrize("registered", [False, True])
def test_plain_pickler_is_used_only_without_registered_modules(registered, tmp_path, monkeypatch):
    (tmp_path / "dn_by_value_mod2.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import dn_by_value_mod2

    if registered:
        cloudpickle.register_pickle_by_value(dn_by_value_mod2)
    try:
        assert (_RunSpecWriter()._plain is None) == registered
    finally:
        if registered:
            cloudpickle.unregister_pickle_by_value(dn_by_value_mod2)
