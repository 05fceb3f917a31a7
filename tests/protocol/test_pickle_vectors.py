"""The C++ pickle reader builds the same inert tree as a reference built from Python's
pickletools, for every pickle vector; the C++ writer re-emits CPython's exact bytes;
and its numpy scalar and type pickles equal what pickle.dumps gives."""
import json
import pickle
import struct

import numpy as np
import pytest

from protocol_tool import run_tool
from pickle_reference import build_tree, dump


def _buffers(pkl):
    stem = str(pkl)[:-4]
    out, i = [], 0
    while True:
        try:
            with open(f"{stem}.buf{i}", "rb") as f:
                out.append(f.read())
        except FileNotFoundError:
            return out
        i += 1


def _all_pickles(root):
    return sorted(p for p in (root / "pickles").rglob("*.pkl"))


def _compare(wire_tool, paths):
    r = run_tool(wire_tool, "pickle", *paths)
    lines = {json.loads(l)["file"]: json.loads(l) for l in r.stdout.splitlines()}
    assert len(lines) == len(paths), r.stderr
    for p in paths:
        got = lines[str(p)]
        assert "error" not in got, (p, got.get("error"))
        data = p.read_bytes()
        bufs = _buffers(p)
        # Extras were pickled with a buffer_callback whose buffers were not kept; the
        # C++ tool reads no .bufN then, so give the reference the same empty stand-ins.
        sizes = [len(b) for b in bufs] if bufs else [0] * 8
        expected = dump(build_tree(data, sizes))
        assert got["tree"] == expected, p
        if got["protocol"] >= 4:
            assert got["rewritten_identical"], p
        else:
            # Protocols 2-3 use BINPUT; the writer emits protocol 5 with MEMOIZE. The
            # re-emitted pickle must load to the same tree.
            again = bytes.fromhex(got["rewritten"])
            assert dump(build_tree(again, sizes)) == expected, p


def test_every_pickle_vector(wire_tool, vector_root):
    paths = _all_pickles(vector_root)
    assert len(paths) >= 100
    _compare(wire_tool, paths)


def test_generated_edge_pickles(wire_tool, tmp_path):
    """Values whose pickles exercise framing past 64 KiB, batching of 1000, big ints,
    protocols 2-5 and recursion."""
    rec = []
    rec.append(rec)
    values = {
        "many_strs": [f"s{i}" for i in range(20000)],
        "big_bytes_in_list": [b"x" * 70000, "after", b"y" * 10],
        "big_str": "z" * 100000,
        "dict_1000": {i: str(i) for i in range(1000)},
        "dict_2001": {str(i): i for i in range(2001)},
        "set_1000": set(range(1000)),
        "list_1001": list(range(1001)),
        "ints": [0, 255, 256, 65535, 65536, -1, 2**31 - 1, -(2**31), 2**31, 2**63 - 1,
                 -(2**63), 2**64, -(2**64) - 1, 2**200],
        "floats": [0.0, -0.0, 1.5, float("inf"), float("-inf"), 1e308],
        "nested": {"a": [(1, 2, 3, 4, 5), frozenset({1}), bytearray(b"ab")], ("t", 1): None},
        "recursive": rec,
        "ndarray": np.arange(12.0).reshape(3, 4)[:, ::2],
        "scalar": np.float64(2.5),
    }
    paths = []
    for name, v in values.items():
        for proto in (2, 3, 4, 5):
            p = tmp_path / f"{name}_p{proto}.pkl"
            p.write_bytes(pickle.dumps(v, protocol=proto))
            paths.append(p)
    _compare(wire_tool, paths)


@pytest.mark.parametrize("value", [0.5, -1.25e-300, float("nan")])
@pytest.mark.parametrize("protocol", [4, 5])
def test_numpy_float64_scalar_pickle_matches_numpy(wire_tool, value, protocol):
    module = type(np.float64(0)).__reduce__(np.float64(0))[0].__module__
    raw = struct.pack("<d", value).hex()
    r = run_tool(wire_tool, "scalar-pickle", module, "f8", "<", raw, protocol)
    assert bytes.fromhex(r.stdout.strip()) == pickle.dumps(np.float64(value), protocol=protocol)


@pytest.mark.parametrize("dtype,byteorder", [("i8", "<"), ("f4", "<"), ("b1", "|")])
def test_other_numpy_scalars(wire_tool, dtype, byteorder):
    module = type(np.float64(0)).__reduce__(np.float64(0))[0].__module__
    x = np.array([1], dtype=dtype)[0]
    r = run_tool(wire_tool, "scalar-pickle", module, dtype, byteorder, x.tobytes().hex(), 5)
    assert bytes.fromhex(r.stdout.strip()) == pickle.dumps(x, protocol=5)
