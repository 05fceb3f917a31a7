"""Print the expected-value table of worker/native/reduce_test.cc, computed by real numpy.

Run with the project's numpy (.venv/bin/python tests/worker/gen_reduce_expected.py).
Inputs come from the LCG in expected_inputs.py, which reduce_test.cc implements
identically, so the test needs no data files. Each row: op, input kind, seed, base shape
(C-contiguous), then a view of it (offset, shape, strides in elements), the axes (bit
mask; argmax: the axis, -1 = None), the number of outputs, the bits of output 0 and an
FNV-1a hash of all outputs' bits.
"""
import math, sys
import numpy as np
from dask.array.reductions import moment_chunk

from expected_inputs import fnv, lcg


_cache = {}
def base(kind, seed, shape):
    key = (kind, seed, tuple(shape))
    if key in _cache: return _cache[key]
    n = int(np.prod(shape)) if shape else 1
    if kind == "negzero":
        a = np.full(n, -0.0)
    else:
        r = lcg(seed, 2 * n)
        u = (r[0::2] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53   # exact
        e = (r[1::2] >> np.uint64(59)).astype(np.int64) - 16
        i = np.arange(n)
        if kind == "uniform": a = u
        elif kind == "hard": a = np.ldexp(u - 0.5, e)
        elif kind == "special":
            a = np.ldexp(u - 0.5, e)
            a[i % 97 == 13] = np.nan; a[i % 89 == 7] = -0.0; a[i % 1009 == 500] = np.inf
        elif kind == "prod": a = 0.95 + 0.1 * u
        elif kind == "prodnan": a = 0.95 + 0.1 * u; a[i % 97 == 13] = np.nan
        elif kind == "small": a = np.floor(u * 3.0)
        elif kind == "int": a = (u * 2000000.0).astype(np.int64) - 1000000
        elif kind == "bigint": a = (r[0::2] >> np.uint64(1)).astype(np.int64)
        elif kind == "bool": a = u > 0.5
        else: raise ValueError(kind)
    a = a.reshape(shape)
    _cache[key] = a
    return a

def bits(arr):
    arr = np.ascontiguousarray(np.ravel(arr))
    if arr.dtype == np.float64 or arr.dtype == np.int64: return arr.view(np.uint64)
    if arr.dtype == np.float32: return arr.view(np.uint32).astype(np.uint64)
    if arr.dtype == np.bool_: return arr.astype(np.uint64)
    raise TypeError(arr.dtype)

rows = []
def case(op, kind, seed, shape, view, axes):
    x = base(kind, seed, shape)
    v = eval(view, {"x": x, "np": np})
    if kind in ("special", "prodnan") or v.dtype == np.float64: pass
    dt = {"sum_f32_f8": np.float32, "sum_f32_f4": np.float32, "mean_f32": np.float32, "ssd_f32": np.float32, "pw_f32": np.float32}
    if op in dt: x = x.astype(np.float32); v = eval(view, {"x": x, "np": np})
    item = v.itemsize
    off = (v.__array_interface__["data"][0] - x.__array_interface__["data"][0]) // item if v.size else 0
    strides = [s // item for s in v.strides]
    ax = tuple(a for a in range(v.ndim) if (axes >> a) & 1) if op not in ("argmax", "argmin") else None
    with np.errstate(all="ignore"):
        if op == "pw_f64" or op == "pw_f32": r = np.add.reduce(v, initial=v.dtype.type(-0.0))  # = -0.0 + pairwise(v)
        elif op == "sum_f64" or op == "sum_f32_f8" or op == "sum_i64_f8": r = np.sum(v, axis=ax, dtype=np.float64)
        elif op == "sum_f32_f4": r = np.sum(v, axis=ax, dtype=np.float32)
        elif op in ("sum_i64", "sum_b_i64"): r = np.sum(v, axis=ax, dtype=np.int64)
        elif op == "nansum": r = np.nansum(v, axis=ax)
        elif op == "prod": r = np.prod(v, axis=ax)
        elif op in ("mean_f64", "mean_f32"): r = np.mean(v, axis=ax)
        elif op == "max": r = np.max(v, axis=ax)
        elif op == "min": r = np.min(v, axis=ax)
        elif op == "argmax": r = np.argmax(v, axis=None if axes == -1 else axes)
        elif op == "argmin": r = np.argmin(v, axis=None if axes == -1 else axes)
        elif op in ("any", "any_b"): r = np.any(v, axis=ax)
        elif op in ("all", "all_b"): r = np.all(v, axis=ax)
        elif op in ("ssd_f64", "ssd_f32"): r = moment_chunk(v, axis=ax, keepdims=True, dtype="f8")["M"]
        else: raise ValueError(op)
    b = bits(np.asarray(r))
    rows.append((op, kind, seed, list(shape), off, list(v.shape), strides, axes, len(b), int(b[0]) if len(b) else 0, fnv(b), view))

BIG = (2000, 2000)
VIEWS2 = ["x", "x[::2, 5:]", "x.T", "x[::-1]", "x[:, ::-1]", "x[::3, ::3]", "x[:, :1000]",
          "np.broadcast_to(x[:1, :1], (2000, 2000))"]
FULL, A0, A1 = 3, 1, 2
# PairwiseSum
for op in ("pw_f64", "pw_f32"):
    for view in ["x[:0]", "x[:1]", "x[:7]", "x[:8]", "x[:9]", "x[:127]", "x[:128]", "x[:129]", "x[:1000]", "x[::3]", "x[::-1]"]:
        case(op, "hard", 11, (1000,), view, 1)
    case(op, "negzero", 0, (1000,), "x[:5]", 1)
    case(op, "negzero", 0, (1000,), "x", 1)
    case(op, "uniform", 1, (4000000,), "x", 1)
# Sum float64: shapes x axes, specials, views, N-D, 0-d and empty
for i, sh in enumerate([(1, 1), (7, 13), (3, 8193), (8193, 3), (1000, 2000), BIG]):
    for axes in (FULL, A0, A1):
        case("sum_f64", "uniform", 1 + i, sh, "x", axes)
for sh in [(7, 13), BIG]:
    for axes in (FULL, A0, A1):
        case("sum_f64", "special", 7, sh, "x", axes)
        case("sum_f64", "hard", 8, sh, "x", axes)
for axes in (FULL, A0, A1):
    case("sum_f64", "negzero", 0, (3, 8193), "x", axes)
for view in VIEWS2[1:]:
    for axes in (FULL, A0, A1):
        case("sum_f64", "hard", 9, BIG, view, axes)
for axes in (7, 1, 2, 4, 5, 6, 3):
    case("sum_f64", "hard", 10, (5, 64, 129), "x", axes)
    case("sum_f64", "hard", 10, (5, 64, 129), "x.transpose(2, 0, 1)", axes)
    case("sum_f64", "hard", 10, (5, 64, 129), "x[:, ::-3, 1::2]", axes)
case("sum_f64", "hard", 10, (5, 64, 129), "x[1, 2, 3, ...]", 0)
case("sum_f64", "hard", 10, (7, 13), "x[:0]", FULL)
case("sum_f64", "hard", 10, (7, 13), "x[:0]", A0)
case("sum_f64", "hard", 10, (7, 13), "x[:0]", A1)
case("sum_f64", "hard", 10, (7, 13), "x", 0)
# float32 (dtype=f8 and dtype=f4), int64, bool
for sh in [(7, 13), (3, 8193), BIG]:
    for axes in (FULL, A0, A1):
        case("sum_f32_f8", "hard", 12, sh, "x", axes)
        case("sum_f32_f4", "uniform", 13, sh, "x", axes)
for view in ["x[::2, 5:]", "x.T", "x[:, ::-1]"]:
    for axes in (FULL, A1):
        case("sum_f32_f8", "hard", 12, BIG, view, axes)
        case("sum_f32_f4", "uniform", 13, BIG, view, axes)
for axes in (FULL, A0, A1):
    case("sum_i64", "int", 14, BIG, "x", axes)
    case("sum_i64_f8", "bigint", 15, (3, 8193), "x", axes)
    case("sum_i64_f8", "bigint", 15, BIG, "x", axes)
    case("sum_b_i64", "bool", 16, BIG, "x", axes)
case("sum_b_i64", "bool", 16, BIG, "x[::2, 5:]", FULL)
# nansum, prod, mean
for sh in [(7, 13), BIG]:
    for axes in (FULL, A0, A1):
        case("nansum", "special", 17, sh, "x", axes)
for view in ["x[::2, 5:]", "x.T", "x[::-1]"]:
    case("nansum", "special", 17, BIG, view, FULL)
    case("nansum", "special", 17, BIG, view, A1)
for sh in [(7, 13), (3, 8193), BIG]:
    for axes in (FULL, A0, A1):
        case("prod", "prod", 18, sh, "x", axes)
for axes in (FULL, A0, A1):
    case("prod", "prodnan", 19, (7, 13), "x", axes)
    case("prod", "prod", 18, BIG, "x.T", axes)
for sh in [(7, 13), BIG]:
    for axes in (FULL, A0, A1):
        case("mean_f64", "uniform", 20, sh, "x", axes)
        case("mean_f32", "uniform", 21, sh, "x", axes)
case("mean_f64", "hard", 20, BIG, "x[::2, 5:]", FULL)
# max/min, argmax/argmin, any/all
for op in ("max", "min"):
    for axes in (FULL, A0, A1):
        case(op, "special", 22, (7, 13), "x", axes)
        case(op, "hard", 23, BIG, "x", axes)
    case(op, "hard", 23, BIG, "x[::2, 5:]", A0)
    case(op, "special", 22, (5, 64, 129), "x.transpose(1, 2, 0)", 5)
for op in ("argmax", "argmin"):
    for axis in (-1, 0, 1):
        case(op, "special", 24, (7, 13), "x", axis)
        case(op, "hard", 25, BIG, "x", axis)
        case(op, "small", 26, (7, 13), "x", axis)
    case(op, "hard", 25, BIG, "x[::2, 5:]", 1)
    case(op, "hard", 25, (5, 64, 129), "x.transpose(2, 0, 1)", 1)
for op in ("any", "all"):
    for axes in (FULL, A0, A1):
        case(op, "special", 27, (7, 13), "x", axes)
        case(op, "small", 28, (7, 13), "x", axes)
        case(op, "negzero", 0, (7, 13), "x", axes)
        case(op + "_b", "bool", 29, (7, 13), "x", axes)
# dask moment_chunk's M (var/std)
for axes in (FULL, A0, A1):
    case("ssd_f64", "uniform", 30, BIG, "x", axes)
    case("ssd_f64", "hard", 31, (7, 13), "x", axes)
    case("ssd_f64", "uniform", 30, BIG, "x.T", axes)
    case("ssd_f64", "uniform", 30, BIG, "x[::2, 5:]", axes)
    case("ssd_f32", "uniform", 32, BIG, "x", axes)
for axes in (7, 5, 2):
    case("ssd_f64", "hard", 33, (5, 64, 129), "x", axes)
    case("ssd_f64", "hard", 33, (5, 64, 129), "x.transpose(2, 0, 1)", axes)

def arr(v): return "{" + ", ".join(str(i) for i in v) + "}"
OPS = {"pw_f64": "PairwiseF64", "pw_f32": "PairwiseF32", "sum_f64": "SumF64", "sum_f32_f8": "SumF32F8",
       "sum_f32_f4": "SumF32F4", "sum_i64_f8": "SumI64F8", "sum_i64": "SumI64", "sum_b_i64": "SumBoolI64",
       "nansum": "NanSum", "prod": "Prod", "mean_f64": "MeanF64", "mean_f32": "MeanF32", "max": "Max",
       "min": "Min", "argmax": "ArgMax", "argmin": "ArgMin", "any": "Any", "all": "All", "any_b": "AnyBool",
       "all_b": "AllBool", "ssd_f64": "SsdF64", "ssd_f32": "SsdF32"}
KINDS = {"negzero": "NegZero", "prodnan": "ProdNaN", "bigint": "BigInt"}
print(f"// Generated by gen_reduce_expected.py with numpy {np.__version__}.")
for (op, kind, seed, shape, off, vshape, strides, axes, n, first, h, view) in rows:
    print(f'    {{Op::k{OPS[op]}, Kind::k{KINDS.get(kind, kind.capitalize())}, {seed}, {arr(shape)}, {off}, {arr(vshape)}, {arr(strides)}, {axes}, {n}, 0x{first:016x}ULL, 0x{h:016x}ULL, "{view}"}},')
print(f"// {len(rows)} cases", file=sys.stderr)
