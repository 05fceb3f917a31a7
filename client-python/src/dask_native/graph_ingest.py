"""Graph ingestion for the native scheduler, run inside its embedded interpreter.

The C++ scheduler (scheduler/graph/) calls `materialize` off its event loop with the
raw parts of an `update-graph` message and gets back one msgpack blob describing every
task. This is the only Python the scheduler runs: it turns the client's pickled
expression into tasks (docs/protocol.md#update-graph). It never imports distributed's Scheduler,
comm or state-machine code; it uses dask's graph APIs and distributed's pickle helper,
so run_specs are pickled exactly as a stock scheduler pickles ToPickle(run_spec).
"""
from __future__ import annotations

import io
import pickle
import traceback
import types

import msgpack

import dask
import dask.order
from dask._expr import LLGExpr
from dask._task_spec import DataNode, GraphNode, convert_legacy_graph

import distributed  # noqa: F401  registers serializers and distributed.client._MapExpr
from distributed.protocol import pickle as dpickle
from distributed.protocol.serialize import deserialize

_UNPACK = dict(raw=False, strict_map_key=False, use_list=False)


def _by_value(fn) -> bool:
    """True for functions cloudpickle must ship by value (lambdas, __main__)."""
    try:
        from cloudpickle.cloudpickle import _should_pickle_by_reference
        return not _should_pickle_by_reference(fn)
    except Exception:
        return fn.__module__ == "__main__" or "<lambda>" in fn.__qualname__


class _NeedsCloudpickle(Exception):
    """A class that must travel by value: let the stock path pickle this run_spec."""


class _RunSpecPickler(pickle.Pickler):
    """Pickle run_specs as distributed.protocol.pickle.dumps does, but decide once per
    graph how each function and class travels. A by-value function (a lambda, a notebook
    function) is cloudpickled once and embedded as `pickle.loads(<its pickle>)`, instead
    of re-running cloudpickle for each of client.map's tasks; any worker unpickles that
    to the same function. Importable callables (numpy.sum, dask's own) stay plain global
    references, so workers can recognise them. This is the C pickler with a Python hook
    that returns at once for everything but functions and classes."""

    def __init__(self, file, cache, buffer_callback):
        super().__init__(file, protocol=5, buffer_callback=buffer_callback)
        self._cache = cache

    def reducer_override(self, obj):
        t = type(obj)
        if t is not types.FunctionType and not issubclass(t, type):
            return NotImplemented
        hit = self._cache.get(id(obj))
        if hit is not None:
            return hit[1]
        if t is types.FunctionType:
            result = (pickle.loads, (dpickle.dumps(obj),)) if _by_value(obj) else NotImplemented
        elif _by_value_class(obj):
            raise _NeedsCloudpickle(obj)
        else:
            result = NotImplemented
        self._cache[id(obj)] = (obj, result)  # keeps obj alive so its id stays unique
        return result


def _by_value_class(cls) -> bool:
    try:
        from cloudpickle.cloudpickle import _should_pickle_by_reference
        return not _should_pickle_by_reference(cls)
    except Exception:
        return cls.__module__ == "__main__"


class _RunSpecWriter:
    """Pickles one graph's run_specs with one pickler, reset between tasks: building a
    Pickler per task cost a tenth of the pickling (133k tasks: 1.9 s with a pickler
    each, 1.7 s with one).

    Most graphs hold only importable callables (dask's, numpy's), for which the hook
    of _RunSpecPickler returns NotImplemented every time: a plain C pickler writes the
    same bytes without calling into Python for each tuple, list and dict: a sixth to a
    fifth of the pickling (the seed's random+sum graph, 239 run_specs, 2.4 -> 1.95 ms;
    a 100k-task graph 1.15 -> 0.96 s). So run_specs go through a plain pickler first. It refuses by-value code on its own: a lambda, a notebook's
    function or class, and anything else not found under its module and name fails
    its by-reference lookup. A module registered with cloudpickle for pickling by value
    would not fail, so with any registered the plain pickler is not used. After the
    first refusal the rest of the graph goes straight to _RunSpecPickler (client.map
    over a lambda would otherwise fail once per task)."""

    def __init__(self):
        self._file = io.BytesIO()
        self._buffers: list = []
        self._pickler = _RunSpecPickler(self._file, {}, self._buffers.append)
        self._plain = (None if _registered_by_value() else
                       pickle.Pickler(self._file, protocol=5, buffer_callback=self._buffers.append))

    def dumps(self, node) -> tuple[bytes, list]:
        """The run_spec's pickle and its out-of-band buffers."""
        if self._plain is not None:
            try:
                return self._dump(self._plain, node)
            except Exception:
                self._plain = None
        try:
            return self._dump(self._pickler, node)
        except Exception:
            pass
        # Whatever this pickler cannot handle goes the stock way.
        out: list = []
        return dpickle.dumps(node, buffer_callback=out.append), out

    def _dump(self, pickler, node) -> tuple[bytes, list]:
        f, buffers = self._file, self._buffers
        f.seek(0)
        f.truncate()
        buffers.clear()
        pickler.clear_memo()
        pickler.dump(node)
        return f.getvalue(), list(buffers)


def _registered_by_value() -> bool:
    """True if any module is registered with cloudpickle to be pickled by value."""
    try:
        from cloudpickle import list_registry_pickle_by_value
        return bool(list_registry_pickle_by_value())
    except Exception:  # an old cloudpickle without the registry: take no chances
        return True


# Tasks a piece of materialize's reply holds: a few MB, which the scheduler frees once
# all of its tasks are forgotten.
_TASKS_PER_PIECE = 4096


def _cull(dsk: dict, keys: set) -> dict:
    # Reachability from the requested keys through each node's dependencies.
    work, seen, out = set(keys), set(), {}
    while work:
        k = work.pop()
        if k in seen or k not in dsk:
            continue
        seen.add(k)
        out[k] = node = dsk[k]
        work.update(node.dependencies)
    return out


def _numpy_scalar(v):
    """msgpack's fallback: a numpy scalar as the Python number it equals. Keys may hold
    them (da.diag and da.diagonal of a da.from_array name its blocks
    ('array-...', numpy.int64(1), numpy.int64(0))); equal numbers hash alike, so the
    client's futures still match the keys it gets back."""
    if type(v).__module__ == "numpy" and hasattr(v, "item") and getattr(v, "ndim", None) == 0:
        item = v.item()
        if isinstance(item, (bool, int, float)):
            return item
    raise TypeError(f"can not serialize {type(v).__name__!r} object")


def _packable(v):
    try:
        msgpack.packb(v, use_bin_type=True)
        return True
    except Exception:
        return False


def materialize(*args):
    """Run `_materialize`; with DN_PROFILE_INGEST=FILE set, append a cProfile report.

    The cyclic garbage collector is off meanwhile: materialising a graph allocates
    objects by the hundred thousand and few of them are garbage, so the collections
    those allocations trigger mostly walk live objects. On a 40k-task graph they cost
    0.3 s of 3.6 s (graph 1.13 -> 0.96 s, order 0.72 -> 0.62 s). Collection resumes at
    the next allocation threshold after the graph is done."""
    import gc
    import os
    path = os.environ.get("DN_PROFILE_INGEST")
    enabled = gc.isenabled()
    gc.disable()
    try:
        if not path:
            return _materialize(*args)
        return _profiled(path, *args)
    finally:
        if enabled:
            gc.enable()


def _profiled(path, *args):
    import cProfile
    import pstats
    prof = cProfile.Profile()
    out = prof.runcall(_materialize, *args)
    with open(path, "a") as f:
        pstats.Stats(prof, stream=f).sort_stats("cumulative").print_stats(25)
    return out


def _materialize(expr_header: bytes, expr_frames: list, keys_packed: bytes,
                 priority_packed: bytes, annotations_pickle: bytes, annotations_buffers: list):
    """Return a list of msgpack pieces, each an array of tasks; on failure, msgpack bytes
    of ["error", exc_pickle, tb_pickle, text].

    Each task is [key, [dependency keys], order, {annotation: value}, run_spec pickle,
    [out-of-band buffers]]; keys are msgpack values (tuples as arrays).
    """
    try:
        header = msgpack.unpackb(expr_header, **_UNPACK)
        try:
            expr = deserialize(header, [memoryview(f) for f in expr_frames])
        except Exception as e:
            raise RuntimeError(_DESERIALIZATION_FAILED) from e
        keys = set(msgpack.unpackb(keys_packed, **_UNPACK))
        internal_priority = msgpack.unpackb(priority_packed, **_UNPACK)
        global_annotations = (pickle.loads(annotations_pickle, buffers=annotations_buffers)
                              if annotations_pickle else {}) or {}

        dsk = expr.__dask_graph__()
        annotations_by_type: dict = {}
        for kind, values in expr.__dask_annotations__().items():
            annotations_by_type.setdefault(kind, {}).update(values)
        dsk = convert_legacy_graph(dsk)
        if isinstance(expr, LLGExpr):
            dsk = _cull(dsk, keys)
        order = internal_priority or dask.order.order(dsk)

        # Each task is packed as soon as its run_spec is pickled, and every few thousand
        # tasks make a piece, so that the pickles, the reply and the scheduler's copy of
        # it are never all alive at once (~300 MB each for a 300k-task graph).
        packer = msgpack.Packer(use_bin_type=True, default=_numpy_scalar)
        pieces, batch = [], []
        writer = _RunSpecWriter()
        for key, node in dsk.items():
            if not isinstance(node, GraphNode):
                node = DataNode(key, node)
            ann = {kind: values[key] for kind, values in annotations_by_type.items()
                   if key in values}
            for kind, value in global_annotations.items():
                ann.setdefault(kind, value(key) if callable(value) else value)
            ann = {k: v for k, v in ann.items() if _packable(v)}
            run_spec, buffers = writer.dumps(node)
            # raw(): the buffer's bytes as one flat view. memoryview.cast refuses an
            # empty array's view (a zero in its shape), which cumsum's and tril's graphs
            # carry out of band.
            frames = [_buffer_bytes(b) for b in buffers]
            batch.append(packer.pack([key, list(node.dependencies), order.get(key, 0), ann,
                                      run_spec, frames]))
            if len(batch) == _TASKS_PER_PIECE:
                pieces.append(b"".join([packer.pack_array_header(len(batch)), *batch]))
                batch = []
        if batch:
            pieces.append(b"".join([packer.pack_array_header(len(batch)), *batch]))
        return pieces
    except Exception as e:  # the client gets it as task-erred for every requested key
        return _failure(e)


def _buffer_bytes(buffer) -> bytes:
    """The bytes of one out-of-band pickle buffer (a PickleBuffer, or any contiguous
    buffer), whatever its shape, including zero-size ones."""
    if isinstance(buffer, pickle.PickleBuffer):
        return buffer.raw().tobytes()
    return memoryview(buffer).tobytes()


# What the stock scheduler raises when a graph cannot be deserialized (update_graph).
_DESERIALIZATION_FAILED = """\
Error during deserialization of the task graph. This frequently
occurs if the Scheduler and Client have different environments.
For more information, see
https://docs.dask.org/en/stable/deployment-considerations.html#consistent-software-environments
"""


def _failure(e: BaseException) -> bytes:
    """["error", exception pickle, traceback pickle, text]: the exception itself, as the
    stock scheduler reports an update_graph failure (core.error_message), or its repr in
    an Exception when it does not pickle and unpickle."""
    text = "".join(traceback.format_exception(e))
    try:
        exc = dpickle.dumps(e)
        dpickle.loads(exc)
    except Exception:
        try:
            exc = dpickle.dumps(Exception(repr(e)))
        except Exception:
            exc = b""
    try:
        tb = dpickle.dumps(e.__traceback__)
    except Exception:
        tb = b""
    return msgpack.packb(["error", exc, tb, text], use_bin_type=True)


def versions() -> bytes:
    """msgpack of the embedded interpreter's software versions, as `Scheduler.versions`
    reports them to `Client.get_versions` (host info and package versions)."""
    from distributed.versions import get_versions

    return msgpack.packb(get_versions(), use_bin_type=True)
