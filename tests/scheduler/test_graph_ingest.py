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


def _as_the_client_sends(collection):
    """(header msgpack, frames, keys msgpack) of a collection's expression, as
    Client._graph_to_futures serializes it for update_graph."""
    import msgpack
    from dask.core import flatten
    from distributed.protocol.serialize import Serialized, serialize, to_serialize

    from dask.base import collections_to_expr

    expr = collections_to_expr([collection], True).optimize()  # as Client.compute
    ser = Serialized(*serialize(to_serialize(expr), on_error="raise"))
    frames = [memoryview(f).tobytes() for f in ser.frames]
    keys = list(flatten(expr.__dask_keys__()))
    return (msgpack.packb(ser.header, use_bin_type=True), frames,
            msgpack.packb(keys, use_bin_type=True))


@pytest.mark.parametrize("name,make", [
    ("cumsum", lambda x: x.cumsum(axis=0)),
    ("tril", lambda x: da.tril(x)),
    ("diag", lambda x: da.diag(x)),
])
def test_graphs_carrying_empty_arrays_out_of_band_materialize(name, make):
    # cumsum's and tril's graphs carry an empty array as an out-of-band buffer, which
    # failed ingestion ("memoryview: cannot cast view with zeros in shape or strides").
    import msgpack

    from dask_native.graph_ingest import materialize

    header, frames, keys = _as_the_client_sends(make(da.ones((8, 8), chunks=4)))
    pieces = materialize(header, frames, keys, msgpack.packb(None), b"", [])
    assert isinstance(pieces, list), msgpack.unpackb(pieces)[3]
    tasks = [t for p in pieces for t in msgpack.unpackb(p, raw=False, strict_map_key=False)]
    assert tasks
    if name != "diag":
        assert any(len(b) == 0 for t in tasks for b in t[5]), "no empty buffer: the case is moot"
    for t in tasks:  # each run_spec unpickles with its buffers
        pickle.loads(t[4], buffers=t[5])


def test_buffer_bytes_of_zero_size_and_transposed_arrays():
    import numpy as np

    from dask_native.graph_ingest import _buffer_bytes

    for a in (np.zeros((0, 3)), np.zeros((3, 0), "f4"), np.arange(6.0).reshape(2, 3).T):
        bufs = []
        pickle.dumps(a, protocol=5, buffer_callback=bufs.append)
        assert [_buffer_bytes(b) for b in bufs] == [a.tobytes(order="A")]


def test_keys_holding_numpy_integers_pack_as_the_numbers_they_equal():
    # da.diag of a da.from_array names blocks ('array-...', numpy.int64(1), ...): the
    # ingestion failed with "can not serialize 'numpy.int64' object".
    import msgpack
    import numpy as np

    from dask_native.graph_ingest import _numpy_scalar

    key = ("array-x", np.int64(1), np.uint8(0))
    packed = msgpack.packb(key, use_bin_type=True, default=_numpy_scalar)
    assert packed == msgpack.packb(("array-x", 1, 0), use_bin_type=True)
    with pytest.raises(TypeError, match="can not serialize"):
        msgpack.packb(object(), default=_numpy_scalar)
