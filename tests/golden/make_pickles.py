#!/usr/bin/env python
"""Regenerate the run_spec pickle vectors (layout of shared/vectors/pickles) with the
installed dask / distributed / numpy / cloudpickle.

usage: make_pickles.py OUTDIR

For every case (native-ops.md section 3, shapes shrunk to (4000, 4000) / (400, 400): same 10x10 block grid)
this follows the path a task takes in the installed release:

  client   Client.compute: expr = FinalizeCompute(collections_to_expr([coll], True)).optimize()
           keys = flatten(expr.__dask_keys__());  Client.submit: LLGExpr({key: Task(key, f, *parse_input(args))})
           Client._graph_to_futures: Serialized(*serialize(to_serialize(expr), on_error="raise"))
  scheduler Scheduler.update_graph: deserialize(header, frames) -> _materialize_graph(expr, validate=False)
           (+ _cull for LLGExpr) -> TaskStates for everything reachable from keys
           _task_to_msg: ToPickle(ts.run_spec) -> distributed.protocol.pickle.dumps(run_spec, buffer_callback=...)

`_materialize_graph` and `_cull` are the module-level functions of the installed
distributed/scheduler.py (the Scheduler class itself is never imported or instantiated).

Output, one example task per (case, task group = dask.utils.key_split(key)):
  OUTDIR/<case>__<group>.pkl           pickle bytes (protocol 5)
  OUTDIR/<case>__<group>.buf0..N       out-of-band buffers, in NEXT_BUFFER order
  OUTDIR/<case>__<group>.dis.txt       "# key/# node/# out-of-band buffers" header + pickletools.dis
  OUTDIR/index.json                    versions, per case/group: task count, example key, class,
                                       pickle size, buffer sizes, pickle globals
  OUTDIR/extras/<name>.pkl|.bufN|.dis.txt  less common values (protocol 5 via
                                       distributed.protocol.pickle.dumps) and
                                       p2_/p3_/p4_<name> (plain pickle.dumps, protocol 2/3/4);
                                       extras/extras_opcodes.txt = opcode census.
Deterministic: re-executes itself with PYTHONHASHSEED=0, seeds dask's RandomState and
replaces uuid.uuid4 by a seeded generator, so two runs produce byte-identical files.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    # fused-task inkeys are ordered by hash(key) and frozensets by hash: pin them
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

import collections  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import operator  # noqa: E402
import pickle  # noqa: E402
import pickletools  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402

import cloudpickle  # noqa: E402
import msgpack  # noqa: E402
import numpy as np  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import distributed  # noqa: E402
from dask._expr import FinalizeCompute, LLGExpr  # noqa: E402
from dask._task_spec import Alias, DataNode, Dict, GraphNode, List, Set, Task, TaskRef, Tuple, parse_input  # noqa: E402
from dask.base import collections_to_expr  # noqa: E402
from dask.core import flatten  # noqa: E402
from dask.tokenize import tokenize  # noqa: E402
from dask.utils import funcname, key_split  # noqa: E402
from distributed.client import _MapExpr  # noqa: E402
from distributed.protocol import pickle as dpickle  # noqa: E402
from distributed.protocol.serialize import Serialized, deserialize, serialize, to_serialize  # noqa: E402
from distributed.scheduler import _cull, _materialize_graph  # noqa: E402  (module functions only)

# Keys such as 'finalize-hlgfinalizecompute-<hex>' come from uuid.uuid4() (dask/_expr.py,
# HLGExpr.deterministic_token).  Replace it with a seeded generator (reset per case) so the
# vectors are byte-identical from run to run; the key format is unchanged.
_uuid_rng = random.Random(0)


def _det_uuid4():
    return uuid.UUID(int=_uuid_rng.getrandbits(128), version=4)


uuid.uuid4 = _det_uuid4

SHAPE, CHUNKS = (4000, 4000), (400, 400)  # 10x10 blocks: same graph shape as the seed (20000,20000)/(2000,2000)
SEED = 20260801


def inc(x):  # defined in __main__ -> cloudpickled by value, like a user's script
    return x + 1


# ----------------------------------------------------------------- client side
def expr_for_compute(coll):
    expr = FinalizeCompute(collections_to_expr([coll], True)).optimize()
    return expr, list(flatten(expr.__dask_keys__()))


def expr_for_submit(func, *args, **kwargs):
    key = f"{funcname(func)}-{tokenize(func, kwargs, *args)}"
    expr = LLGExpr(
        {key: Task(key, func, *(parse_input(a) for a in args), **{k: parse_input(v) for k, v in kwargs.items()})},
        _determ_token="golden-" + key,  # Client.submit uses uuid4().hex here
    )
    return expr, [key]


def expr_for_map(func, *iterables):
    expr = _MapExpr(func, [list(it) for it in iterables], key=funcname(func), pure=True, annotations={}, kwargs={})
    return expr, list(expr.keys)


def over_the_wire(expr):
    """Client._graph_to_futures -> msgpack frames -> Scheduler.update_graph(expr_ser)."""
    ser = Serialized(*serialize(to_serialize(expr), on_error="raise"))
    frames = [memoryview(bytearray(memoryview(f).cast("B"))) for f in ser.frames]
    header = msgpack.loads(msgpack.dumps(ser.header, use_bin_type=True), raw=False, use_list=False, strict_map_key=False)
    return header, frames


# -------------------------------------------------------------- scheduler side
def scheduler_graph(header, frames, keys):
    expr = deserialize(header, frames)
    dsk, _annotations = _materialize_graph(expr=expr, validate=False)
    if isinstance(expr, LLGExpr):
        dsk = _cull(dsk, set(keys))
    # Scheduler._create_taskstate_from_graph: TaskStates for everything reachable from keys
    seen, stack = set(), list(keys)
    while stack:
        k = stack.pop()
        if k in seen or k not in dsk:
            continue
        seen.add(k)
        stack.extend(dsk[k].dependencies)
    return {k: v for k, v in dsk.items() if k in seen}


def to_pickle(obj):
    """Exactly protocol/core.py create_pickled_sub_frames for ToPickle(run_spec)."""
    buffers = []
    data = dpickle.dumps(obj, buffer_callback=buffers.append)
    return data, [memoryview(b).cast("B").tobytes() for b in buffers]


def pickle_globals(data):
    out, strings = [], []
    memo = {}
    for op, arg, _pos in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = strings[-1] if strings else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            strings.append(memo.get(arg))
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            g = f"{strings[-2]}.{strings[-1]}"
            if g not in out:
                out.append(g)
        elif op.name in ("GLOBAL", "INST"):
            g = arg.replace(" ", ".")
            if g not in out:
                out.append(g)
    return sorted(out)


def opcodes(data):
    return sorted({op.name for op, _a, _p in pickletools.genops(data)})


def dis_text(data, header_lines):
    f = io.StringIO()
    for line in header_lines:
        f.write("# " + line.replace("\n", "\n#   ") + "\n")
    pickletools.dis(data, out=f)
    return f.getvalue()


def write_vector(outdir, name, data, bufs, header_lines):
    for fn in os.listdir(outdir):  # idempotent: drop stale buffers of this name
        if fn.startswith(name + ".buf"):
            os.remove(os.path.join(outdir, fn))
    with open(os.path.join(outdir, name + ".pkl"), "wb") as f:
        f.write(data)
    for i, b in enumerate(bufs):
        with open(os.path.join(outdir, f"{name}.buf{i}"), "wb") as f:
            f.write(b)
    with open(os.path.join(outdir, name + ".dis.txt"), "w") as f:
        f.write(dis_text(data, header_lines))
    # self-check: loads back with the out-of-band buffers
    pickle.loads(data, buffers=[bytearray(b) for b in bufs])


def sort_key(k):
    return (k[0], k[1:]) if isinstance(k, tuple) else (k, ())


def rand():
    da.random.seed(SEED)
    return da.random.random(SHAPE, chunks=CHUNKS)


CASES = {
    "sum": lambda: expr_for_compute(rand().sum()),
    "mean": lambda: expr_for_compute(rand().mean()),
    "std": lambda: expr_for_compute(rand().std()),
    "max": lambda: expr_for_compute(rand().max()),
    "min": lambda: expr_for_compute(rand().min()),
    "sum_axis0": lambda: expr_for_compute(rand().sum(axis=0)),
    "x_plus_xT_minus_mean0": lambda: (lambda x: expr_for_compute(x + x.T - x.mean(axis=0)))(rand()),
    "slice_sum": lambda: expr_for_compute(rand()[::2, 1000:].sum()),
    "normal": lambda: (da.random.seed(SEED), expr_for_compute(da.random.normal(10, 0.1, size=SHAPE, chunks=CHUNKS)))[1],
    "ones": lambda: expr_for_compute(da.ones(SHAPE, chunks=CHUNKS)),
    "zeros": lambda: expr_for_compute(da.zeros(SHAPE, chunks=CHUNKS)),
    "ones_sum": lambda: expr_for_compute(da.ones(SHAPE, chunks=CHUNKS).sum()),
    "arange": lambda: expr_for_compute(da.arange(0, 1_000_000, chunks=100_000)),
    "astype_f32": lambda: expr_for_compute(rand().astype("float32")),
    "gt_sum": lambda: expr_for_compute((rand() > 0.5).sum()),
    "dot": lambda: (lambda x: expr_for_compute(x.dot(x.T)))(rand()),
    "rng_random": lambda: expr_for_compute(da.random.default_rng(42).random(SHAPE, chunks=CHUNKS)),
    "RandomState42_random": lambda: expr_for_compute(da.random.RandomState(42).random_sample(SHAPE, chunks=CHUNKS)),
    # Client.submit / Client.map generic path (native-ops.md 3.3)
    "submit_lambda": lambda: expr_for_submit(lambda v: v + 1, 1),
    "submit_add": lambda: expr_for_submit(operator.add, 1, 2),
    "map_inc": lambda: expr_for_map(inc, range(3)),
}


def make_cases(outdir):
    index = collections.OrderedDict()
    for case, build in CASES.items():
        _uuid_rng.seed(case)
        expr, keys = build()
        header, frames = over_the_wire(expr)
        dsk = scheduler_graph(header, frames, keys)
        groups = collections.defaultdict(list)
        for k in dsk:
            groups[key_split(k)].append(k)
        cinfo = {"ntasks": len(dsk), "keys": [repr(k) for k in keys[:3]], "groups": {}}
        for g in sorted(groups):
            ks = sorted(groups[g], key=sort_key)
            node = dsk[ks[0]]
            assert isinstance(node, GraphNode), type(node)
            data, bufs = to_pickle(node)  # before repr(): repr() caches Task._repr
            name = f"{case}__{g}"
            write_vector(outdir, name, data, bufs, [
                f"key: {ks[0]!r}",
                f"node: {node!r}",
                f"out-of-band buffers: {[len(b) for b in bufs]}",
            ])
            cinfo["groups"][g] = {
                "ntasks": len(ks),
                "class": type(node).__name__,
                "example_key": repr(ks[0]),
                "pickle_bytes": len(data),
                "oob_buffers": [len(b) for b in bufs],
                "globals": pickle_globals(data),
            }
        index[case] = cinfo
        print(f"{case}: {len(dsk)} tasks, groups {sorted(groups)}", flush=True)
    return index


# ------------------------------------------------------------------- extras
def extras_values():
    a = np.arange(12, dtype="f8").reshape(3, 4)
    rec = [1]
    rec.append(rec)
    return collections.OrderedDict([
        ("np_float64_scalar", np.float64(0.5)),
        ("np_int64_scalar", np.int64(7)),
        ("np_bool_scalar", np.bool_(True)),
        ("np_dtype_f4", np.dtype("f4")),
        ("np_dtype_struct", np.dtype([("a", "<i4"), ("b", "<f8")])),
        ("ndarray_C", a.copy()),
        ("ndarray_F", np.asfortranarray(a)),
        ("ndarray_0d", np.array(1.5)),
        ("ndarray_bool", np.array([True, False])),
        ("ndarray_noncontig", a[:, ::2]),
        ("ndarray_object", np.array([1, "a", None], dtype=object)),
        ("ndarray_readonly", np.frombuffer(a.tobytes(), dtype="f8")),
        ("big_int", 2**70),
        ("neg_int", -5),
        ("int_2e9", 3_000_000_000),
        ("long_str", "x" * 300),
        ("non_ascii_str", "h\u00e9llo"),
        ("bytes_small", b"abc"),
        ("bytes_300", b"y" * 300),
        ("bytearray", bytearray(b"abc")),
        ("set", {1, 2}),
        ("frozenset", frozenset({3})),
        ("complex", 1 + 2j),
        ("float_nan_inf", (float("nan"), float("inf"), -0.0)),
        ("slice_ellipsis_none", (slice(None, 10, 2), Ellipsis, None)),
        ("recursive_list", rec),
        ("Alias", Alias("new", "old")),
        ("DataNode_ndarray", DataNode("dn", a.copy())),
        ("Task_kwargs_Dict_Tuple_Set", Task("k", sum, List(TaskRef("a"), 1), Tuple(TaskRef("b")),
                                            x=Dict({"q": TaskRef("c")}), s=Set(TaskRef("d")))),
        ("Task_lambda", Task("lam", lambda v: v * 2, 21)),
    ])


OLD_PROTOCOL_VALUES = [
    "np_float64_scalar", "np_int64_scalar", "ndarray_C", "ndarray_F", "ndarray_object",
    "big_int", "bytes_small", "bytes_300", "bytearray", "set", "frozenset", "complex",
    "long_str", "non_ascii_str", "float_nan_inf",
]


def make_extras(outdir):
    os.makedirs(outdir, exist_ok=True)
    vals = extras_values()
    census = []
    for name, v in vals.items():
        data, bufs = to_pickle(v)
        write_vector(outdir, name, data, bufs, [f"{name}: {v!r}", f"oob buffers: {[len(b) for b in bufs]}"])
        census.append((name, [len(b) for b in bufs], opcodes(data)))
    for proto in (2, 3, 4):
        for name in OLD_PROTOCOL_VALUES:
            v = vals[name]
            data = pickle.dumps(v, protocol=proto)
            pname = f"p{proto}_{name}"
            write_vector(outdir, pname, data, [], [f"{pname}: {v!r}", f"pickle.dumps(protocol={proto})", "oob buffers: []"])
            census.append((pname, [], opcodes(data)))
    union = sorted({op for _n, _b, ops in census for op in ops})
    with open(os.path.join(outdir, "extras_opcodes.txt"), "w") as f:
        for n, b, ops in census:
            f.write(f"{n:30s} oob={b} ops={ops}\n")
        f.write("\nUNION: " + " ".join(union) + "\n")
    print(f"extras: {len(census)} pickles", flush=True)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    warnings.simplefilter("ignore")
    index = make_cases(outdir)
    make_extras(os.path.join(outdir, "extras"))
    versions = {
        "python": platform.python_version(),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "numpy": np.__version__,
        "cloudpickle": cloudpickle.__version__,
        "msgpack": ".".join(map(str, msgpack.version)),
        "shape": SHAPE,
        "chunks": CHUNKS,
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED"),
    }
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump({"versions": versions, "cases": index}, f, indent=1)


if __name__ == "__main__":
    main()
