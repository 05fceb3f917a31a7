"""The worker's native evaluator against Python, task by task.

Every captured dask.array run_spec without dependencies in shared/vectors/pickles (the
chunk tasks of each case in shared/docs/native-ops.md §3) goes through dn-native-eval
and through `pickle.loads(...)()` with the pinned numpy. Where the evaluator runs a
task natively its result must be bit-identical (dtype, shape, scalar-ness, bytes); the
tasks of the seed workload must run natively."""
from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL = pathlib.Path(os.environ.get("DN_BUILD_DIR", REPO / "build")) / "tests" / "dn-native-eval"
SHARED = pathlib.Path(os.environ.get("DN_SHARED_DIR", REPO.parent / "shared"))
PICKLES = SHARED / "vectors" / "pickles"

# Tasks that must be native (the seed workload and its close relatives).
MUST_BE_NATIVE = {"sum__random_sample-sum", "RandomState42_random__random_sample",
                  "sum_axis0__random_sample-sum", "normal__normal", "max__random_sample",
                  "min__random_sample", "gt_sum__random_sample-sum",
                  "astype_f32__random_sample-astype", "slice_sum__getitem",
                  "rng_random__random", "ones__ones_like", "zeros__zeros_like",
                  "arange__arange", "mean__random_sample", "std__random_sample-var"}


def _cases():
    """The captured run_specs that need no other task's value (the rest are covered end
    to end by tests/compat on native workers)."""
    import warnings

    out = []
    for pkl in sorted(PICKLES.glob("*.pkl")):
        bufs = sorted(PICKLES.glob(pkl.stem + ".buf*"), key=lambda p: int(p.suffix[4:]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core names
            task = pickle.loads(pkl.read_bytes(), buffers=[b.read_bytes() for b in bufs])
        if not getattr(task, "dependencies", None):
            out.append(pytest.param(pkl, bufs, id=pkl.stem))
    return out


def _python_result(pkl, bufs):
    task = pickle.loads(pkl.read_bytes(), buffers=[b.read_bytes() for b in bufs])
    return task({})


@pytest.mark.parametrize("pkl,bufs", _cases())
def test_native_result_equals_python(pkl, bufs):
    expected = _python_result(pkl, bufs)
    r = json.loads(subprocess.run([str(TOOL), str(pkl), *map(str, bufs)], capture_output=True,
                                  text=True, check=True).stdout)
    if r["status"] != "ok":
        assert pkl.stem not in MUST_BE_NATIVE, f"{pkl.stem} fell back to Python: {r}"
        assert r["status"] == "NotImplemented", r  # anything else is a bug
        return
    if "dict" in r:
        assert isinstance(expected, dict) and [f["key"] for f in r["dict"]] == list(expected)
        for f in r["dict"]:
            _assert_same_array(f, expected[f["key"]])
    else:
        _assert_same_array(r, expected)


def _assert_same_array(r: dict, expected) -> None:
    assert isinstance(expected, (np.ndarray, np.generic)), type(expected)
    assert r["scalar"] == isinstance(expected, np.generic)
    exp = np.asarray(expected)
    assert r["dtype"] == exp.dtype.str
    assert tuple(r["shape"]) == exp.shape
    assert bytes.fromhex(r["hex"]) == np.ascontiguousarray(exp).tobytes()


def test_the_must_be_native_cases_are_collected():
    names = {c.id for c in _cases()}
    assert MUST_BE_NATIVE <= names, MUST_BE_NATIVE - names


def _random_arrays():
    """dask.array.random calls whose chunk tasks have native kernels and are not among the
    captured pickles: name -> (build the array, must run natively)."""
    import dask.array as da

    rng, rs = da.random.default_rng, da.random.RandomState
    s = (300, 200)
    c = (100, 100)
    return {
        "rng_standard_normal": (lambda: rng(42).standard_normal(s, chunks=c), True),
        "rng_standard_normal_1e6": (lambda: rng(5).standard_normal((2000, 1000), chunks=(1000, 1000)), True),
        "rng_normal": (lambda: rng(7).normal(10, 0.5, size=s, chunks=c), True),
        "rng_normal_int_params": (lambda: rng(8).normal(-3, 2, size=s, chunks=c), True),
        "rng_uniform": (lambda: rng(9).uniform(-2, 3, size=s, chunks=c), True),
        "rng_integers": (lambda: rng(3).integers(0, 10, size=s, chunks=c), True),
        "rng_integers_high_none": (lambda: rng(4).integers(1000, size=s, chunks=c), True),
        "rng_integers_wide": (lambda: rng(5).integers(-2**40, 2**40, size=s, chunks=c), True),
        "rng_integers_int32_endpoint": (
            lambda: rng(6).integers(-5, 5, size=s, chunks=c, dtype=np.int32, endpoint=True), True),
        "rs_randint": (lambda: rs(42).randint(0, 10, size=s, chunks=c), True),
        "rs_randint_wide": (lambda: rs(43).randint(-2**40, 2**40, size=s, chunks=c), True),
        "rs_randint_int32": (lambda: rs(44).randint(-5, 5, size=s, chunks=c, dtype="i4"), True),
        "rs_randint_module_api": (lambda: da.random.randint(1000, size=s, chunks=c), True),
        "rs_standard_normal": (lambda: rs(45).standard_normal(s, chunks=c), True),
        "rs_uniform": (lambda: rs(46).uniform(1, 2, size=s, chunks=c), True),
        # numpy raises ValueError when the chunk runs (the meta draw has size 0, so the
        # graph builds): the evaluator must leave it to Python.
        "rs_randint_empty_range": (lambda: rs(47).randint(10, 5, size=(20,), chunks=10), False),
        "rng_integers_int32_overflow": (
            lambda: rng(10).integers(0, 2**40, size=(20,), chunks=10, dtype=np.int32), False),
    }


def _run_native(task, tmp_path):
    """Pickle `task` as the scheduler does (distributed.protocol.pickle) and run the tool."""
    from distributed.protocol.pickle import dumps

    bufs = []
    pkl = tmp_path / "task.pkl"
    pkl.write_bytes(dumps(task, buffer_callback=bufs.append))
    paths = []
    for i, b in enumerate(bufs):
        paths.append(tmp_path / f"task.buf{i}")
        paths[-1].write_bytes(b.raw())
    out = subprocess.run([str(TOOL), str(pkl), *map(str, paths)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("name", sorted(_random_arrays()))
def test_random_chunk_tasks(name, tmp_path):
    from dask.core import flatten

    make, native = _random_arrays()[name]
    x = make()
    graph = dict(x.__dask_graph__())
    for key in list(flatten(x.__dask_keys__()))[:3]:
        task = graph[key]
        r = _run_native(task, tmp_path)
        if not native:
            assert r["status"] == "NotImplemented", r
            with pytest.raises(ValueError):
                task({})
            continue
        assert r["status"] == "ok", r
        _assert_same_array(r, task({}))


# --- dask.array arg reductions, step by step --------------------------------------------
#
# No captured pickle holds argmin/argmax tasks, and their combine/aggregate steps need
# other tasks' values, which dn-native-eval cannot be given. So each arg-reduction task
# of the graphs below is fused with everything it depends on (the random chunks are
# computed natively too) into one `_execute_subgraph` task without dependencies, pickled
# as a stock scheduler (distributed.protocol.pickle) and as dask-native-scheduler
# (graph_ingest: by-value functions as pickle.loads(<cloudpickle>)) pickle run_specs,
# and evaluated both ways. Every step must run
# natively and equal Python bit for bit: the structured ("vals", "arg") partials of
# arg_chunk / arg_combine as well as the int64 results of arg_agg / nanarg_agg.

_ARG_PREFIXES = ("arg-reduce", "arg_combine", "arg_agg", "nanarg_agg")


def _arg_exprs():
    import dask.array as da

    x = da.random.RandomState(0).random_sample((37, 23), chunks=(10, 7))  # edge chunks
    few_nan = da.where(x > 0.95, np.nan, x)
    # NaN-heavy: many all-NaN rows inside chunks (nanarg partials are NaN there), but no
    # all-NaN row, column or whole array (checked below), so nothing raises.
    many_nan = da.where(da.random.RandomState(1).random_sample((37, 23), chunks=(10, 7)) > 0.35, np.nan, x)
    small = da.where(da.random.RandomState(2).random_sample((9, 8), chunks=(2, 3)) > 0.4, np.nan,
                     da.random.RandomState(3).random_sample((9, 8), chunks=(2, 3)))
    ties = (x * 4).astype("int64")
    cube = da.random.RandomState(4).normal(size=(6, 7, 8), chunks=(4, 3, 5))
    line = da.random.RandomState(5).random_sample(101, chunks=13)
    return {
        "argmax": x.argmax(), "argmin_axis0": x.argmin(axis=0), "argmax_axis1": x.argmax(axis=1),
        "argmax_split2": x.argmax(split_every=2), "argmin_axis0_split2": x.argmin(axis=0, split_every=2),
        "argmax_keepdims": x.argmax(axis=1, keepdims=True), "argmin_transposed": x.T.argmin(axis=0),
        "argmax_nan": few_nan.argmax(), "argmin_nan_axis0": few_nan.argmin(axis=0),
        "nanargmax": da.nanargmax(many_nan), "nanargmin": da.nanargmin(many_nan),
        "nanargmax_axis1": da.nanargmax(many_nan, axis=1), "nanargmin_axis0": da.nanargmin(many_nan, axis=0),
        "nanargmax_small": da.nanargmax(small), "nanargmin_small_axis1": da.nanargmin(small, axis=1, split_every=2),
        "argmax_ties_int": ties.argmax(), "argmin_ties_int_axis0": ties.argmin(axis=0),
        "nanargmax_int_axis1": da.nanargmax(ties, axis=1),
        "argmax_f32_axis1": x.astype("float32").argmax(axis=1), "nanargmin_f32": da.nanargmin(many_nan.astype("float32")),
        "argmax_3d": cube.argmax(), "argmin_3d_axis1": cube.argmin(axis=1), "argmax_3d_axis2": cube.argmax(axis=2),
        "argmax_1d": line.argmax(), "nanargmin_1d_axis0": da.nanargmin(line, axis=0),
    }


def _arg_tasks(expr):
    """(key, fused run_spec) for every arg-reduction task of `expr`'s graph."""
    from dask._task_spec import Task, convert_legacy_graph

    graph = convert_legacy_graph(dict(expr.__dask_graph__()))
    out = []
    for key in graph:
        name = key[0] if isinstance(key, tuple) else key
        if not name.startswith(_ARG_PREFIXES):
            continue
        needed, todo = set(), [key]
        while todo:
            k = todo.pop()
            if k not in needed:
                needed.add(k)
                todo.extend(graph[k].dependencies)
        out.append((key, Task.fuse(*(graph[k] for k in needed), key=key)))
    return out


def _run_tool(tmp_path, task, how="stock"):
    from distributed.protocol import pickle as dpickle

    from dask_native.graph_ingest import _RunSpecWriter

    buffers = []
    pkl = tmp_path / "task.pkl"
    if how == "stock":
        pkl.write_bytes(dpickle.dumps(task, protocol=5, buffer_callback=buffers.append))
    else:
        data, buffers = _RunSpecWriter().dumps(task)
        pkl.write_bytes(data)
    paths = []
    for i, b in enumerate(buffers):
        paths.append(tmp_path / f"task.buf{i}")
        paths[-1].write_bytes(b.raw())
    out = subprocess.run([str(TOOL), str(pkl), *map(str, paths)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_arg_reduction_inputs_have_no_all_nan_slice():
    import dask

    exprs = _arg_exprs()
    for name in ("nanargmax", "nanargmax_axis1", "nanargmin_axis0", "nanargmax_small",
                 "nanargmin_small_axis1", "nanargmin_f32"):
        dask.compute(exprs[name], scheduler="sync")  # raises on an all-NaN slice


@pytest.mark.parametrize("how", ["stock", "native-scheduler"])
@pytest.mark.parametrize("name", list(_arg_exprs()))
def test_arg_reduction_steps_native_equal_python(name, how, tmp_path):
    import warnings

    tasks = _arg_tasks(_arg_exprs()[name])
    assert {str(k[0]).split("-")[0] for k, _ in tasks} >= {"arg", "nanarg_agg" if name.startswith("nanarg") else "arg_agg"}
    for key, task in tasks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmax of all-NaN chunk rows
            expected = task({})
        r = _run_tool(tmp_path, task, how)
        assert r["status"] == "ok", (key, r)
        if "records" in r:
            assert isinstance(expected, np.ndarray) and expected.dtype.names == ("vals", "arg"), key
            assert r["descr"] == str(expected.dtype.descr)
            assert bytes.fromhex(r["hex"]) == np.ascontiguousarray(expected).tobytes(), key
            for f in r["records"]:
                _assert_same_array(f, np.ascontiguousarray(expected[f["key"]]))
        else:
            assert expected.dtype == np.int64, key
            _assert_same_array(r, expected)


def test_nanarg_agg_of_an_all_nan_slice_falls_back_to_python(tmp_path):
    import dask.array as da

    x = da.random.RandomState(0).random_sample((12, 10), chunks=(5, 4))
    y = da.where(x >= 0, np.nan, x)  # all NaN
    for expr in (da.nanargmax(y), da.nanargmin(y, axis=0)):
        for key, task in _arg_tasks(expr):
            r = _run_tool(tmp_path, task)
            if key[0].startswith("nanarg_agg"):
                assert r["status"] == "NotImplemented", r
                with pytest.raises(ValueError, match="All NaN slice"):
                    task({})
            else:
                assert r["status"] == "ok", (key, r)
