"""The Python half of dask-native-worker, run in its embedded interpreter.

The C++ worker (worker/python/) calls these functions to unpickle and run tasks and to
(de)serialize values; deciding, fetching, storing and talking on the network stay in
C++. Results live in `_store` (key -> object) so values never leave Python unless a
peer or client asks for them. Keys arrive as msgpack bytes (tuples as arrays). This
module never touches distributed's Worker, comm or state-machine code.
"""
from __future__ import annotations

import sys
import threading
import time
import traceback

import msgpack

from dask.sizeof import sizeof
from dask.utils import typename

import distributed  # noqa: F401  registers serializers
from distributed.protocol import pickle as dpickle
from distributed.protocol.serialize import merge_and_deserialize, serialize_and_split

_UNPACK = dict(raw=False, strict_map_key=False, use_list=False)
_store: dict = {}


def _key(packed: bytes):
    return msgpack.unpackb(packed, **_UNPACK)


def execute(key_packed: bytes, run_spec: bytes, buffers: list, dep_keys: list) -> tuple:
    """Run one task; store its result. Returns
    ("OK", nbytes, type_pickle, typename, thread, start, stop) or
    ("error", exc_pickle, tb_pickle, exc_text, tb_text, thread, start, stop)."""
    start = time.time()
    _running[key_packed] = threading.get_ident()
    try:
        task = dpickle.loads(run_spec, buffers=buffers)
        data = {_key(k): _store[k] for k in dep_keys}
        result = task(data) if callable(task) else task
        _store[key_packed] = result
        stop = time.time()
        return ("OK", int(sizeof(result)), dpickle.dumps(type(result)),
                typename(type(result)), threading.get_ident(), start, stop)
    except BaseException as e:  # noqa: B036  user code may raise anything
        stop = time.time()
        try:
            exc = dpickle.dumps(e)
        except Exception:
            exc = dpickle.dumps(Exception(repr(e)))
        try:
            tb = dpickle.dumps(e.__traceback__)
        except Exception:
            tb = b""
        return ("error", exc, tb, repr(e), "".join(traceback.format_tb(e.__traceback__)),
                threading.get_ident(), start, stop)
    finally:
        _running.pop(key_packed, None)


# The tasks running now: their key's msgpack bytes -> the thread running them.
_running: dict = {}


def call_stack(wanted: list | None) -> bytes:
    """msgpack of [[key, frames], ...] for the running tasks among `wanted` (key
    msgpack bytes; None for all): each thread's stack as stock's Worker.get_call_stack
    reports it (distributed.profile.call_stack: text lines, outermost first)."""
    from distributed.profile import call_stack as frames_text

    frames = sys._current_frames()
    out = []
    for key_packed, thread in list(_running.items()):
        if wanted is not None and key_packed not in wanted:
            continue
        frame = frames.get(thread)
        if frame is not None:
            out.append([msgpack.unpackb(key_packed, **_UNPACK), frames_text(frame)])
    return msgpack.packb(out, use_bin_type=True)


def serialize(key_packed: bytes):
    """(header msgpack, frames) of a stored value, as a stock worker's get_data sends."""
    header, frames = serialize_and_split(_store[key_packed], serializers=("dask", "pickle"))
    header["num-sub-frames"] = len(frames)
    return msgpack.packb(header, use_bin_type=True), [bytes(memoryview(f)) for f in frames]


def put(key_packed: bytes, header_packed: bytes, frames: list) -> int:
    """Store a value received from a peer or a client; returns its sizeof."""
    header = msgpack.unpackb(header_packed, **_UNPACK)
    value = merge_and_deserialize(header, [memoryview(f) for f in frames])
    _store[key_packed] = value
    return int(sizeof(value))


def put_array(key_packed: bytes, buf, dtype: str, shape: tuple, strides: tuple,
              scalar: bool) -> None:
    """Make a natively held array visible to Python tasks: a read-only numpy view of
    the native bytes (`buf` keeps them alive), or a numpy scalar. `dtype` is a
    dtype.str, or for a structured array its descr as Python literal text
    ("[('vals', '<f8'), ('arg', '<i8')]")."""
    if key_packed in _store:
        return
    import ast

    import numpy as np

    dt = np.dtype(ast.literal_eval(dtype)) if dtype.startswith("[") else np.dtype(dtype)
    a = np.ndarray(shape, dtype=dt, buffer=buf, strides=strides)
    _store[key_packed] = a[()] if scalar else a


def put_dict(key_packed: bytes, fields: list) -> None:
    """A natively held dict of arrays (mean chunks) as a dict of read-only numpy views."""
    if key_packed in _store:
        return
    import numpy as np

    out = {}
    for name, buf, dtype, shape, strides, scalar in fields:
        a = np.ndarray(shape, dtype=np.dtype(dtype), buffer=buf, strides=strides)
        out[name] = a[()] if scalar else a
    _store[key_packed] = out


_EXPORTABLE = {"<f8", "<f4", "<i8", "<i4", "<u4", "|b1"}


def exportable(key_packed: bytes):
    """(array, dtype.str, shape, strides) if the stored value is a plain numpy array the
    native kernels can take without copying, else None."""
    import numpy as np

    v = _store.get(key_packed)
    if type(v) is np.ndarray and v.dtype.str in _EXPORTABLE:
        return (v, v.dtype.str, v.shape, v.strides)
    return None


def delete(key_packed: bytes) -> None:
    _store.pop(key_packed, None)


def run(function: bytes, args: bytes, kwargs: bytes):
    """The `run` RPC (client.run): returns ("OK", header, frames) or ("error", text)."""
    try:
        fn = dpickle.loads(function)
        a = dpickle.loads(args) if args else ()
        kw = dpickle.loads(kwargs) if kwargs else {}
        result = fn(*a, **kw)
        header, frames = serialize_and_split(result, serializers=("dask", "pickle"))
        header["num-sub-frames"] = len(frames)
        return ("OK", msgpack.packb(header, use_bin_type=True),
                [bytes(memoryview(f)) for f in frames])
    except Exception as e:
        return ("error", f"{type(e).__name__}: {e}")


def versions() -> bytes:
    from distributed.versions import get_versions

    return msgpack.packb(get_versions(), use_bin_type=True)


def python_version() -> list:
    return list(sys.version_info[:3])
