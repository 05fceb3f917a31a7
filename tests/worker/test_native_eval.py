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
