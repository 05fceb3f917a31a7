"""Print the expected-value tables of worker/native/arg_reduce_test.cc, computed by dask
2026.8.0 and numpy 2.4.6 (.venv/bin/python tests/worker/gen_arg_reduce_expected.py).

Inputs come from the LCG in expected_inputs.py, which arg_reduce_test.cc implements
identically, so the test needs no data files. Three tables:
  kChunkCases    dask.array.reductions.arg_chunk on one chunk (C order or transposed)
  kCombineCases  arg_combine / arg_agg / nanarg_agg on a structured ("vals", "arg") array
  kPipelineCases da.<argfunc>(da.from_array(x, chunks), axis, split_every=64) with the
                 sync scheduler (one arg_chunk per chunk, then one aggregate)
Each row ends with the output shape and FNV-1a hashes of the bits of `vals` and `arg`.
"""
import warnings

import numpy as np
import dask
import dask.array as da
from dask.array import chunk
from dask.array.reductions import _nanargmax, _nanargmin, arg_agg, arg_chunk, arg_combine, nanarg_agg

from expected_inputs import fnv, lcg

KINDS = {
    "kArgMax": (chunk.max, chunk.argmax, "argmax"),
    "kArgMin": (chunk.min, chunk.argmin, "argmin"),
    "kNanArgMax": (chunk.nanmax, _nanargmax, "nanargmax"),
    "kNanArgMin": (chunk.nanmin, _nanargmin, "nanargmin"),
}


def base(data, typ, seed, shape):
    n = int(np.prod(shape))
    r = lcg(seed, 2 * n)
    u = (r[0::2] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    e = (r[1::2] >> np.uint64(59)).astype(np.int64) - 16
    i = np.arange(n)
    if data == "kUniform":
        a = u
    elif data == "kSpecial":
        a = np.ldexp(u - 0.5, e)
        a[i % 97 == 13] = np.nan; a[i % 89 == 7] = -0.0; a[i % 1009 == 500] = np.inf; a[i % 503 == 301] = -np.inf
    elif data == "kTies":
        a = np.floor(u * 3.0) - 1.0
        a[(i % 7 == 3) & (a == 0)] = -0.0
    elif data == "kNaNRuns":
        a = u.copy()
        a[((i // 5) % 3 == 1) | (i % 13 == 0)] = np.nan
    elif data == "kAllNaN":
        a = np.full(n, np.nan)
    elif data == "kInt":
        a = (u * 2000000.0).astype(np.int64) - 1000000
    elif data == "kSmallInt":
        a = np.floor(u * 3.0).astype(np.int64)
    else:
        raise ValueError(data)
    a = a.reshape(shape)
    return a.astype({"kF8": np.float64, "kF4": np.float32, "kI8": np.int64}[typ])


def bits(a):
    a = np.ascontiguousarray(np.ravel(a))
    if a.dtype == np.float32:
        return a.view(np.uint32).astype(np.uint64)
    return a.view(np.uint64)


def vec(v):
    return "{" + ", ".join(str(int(x)) for x in v) + "}"


def chunk_rows():
    rows = []
    cases = []
    for kind in KINDS:
        for data, typ in [("kUniform", "kF8"), ("kSpecial", "kF8"), ("kTies", "kF8"), ("kNaNRuns", "kF8"),
                          ("kSpecial", "kF4"), ("kNaNRuns", "kF4"), ("kSmallInt", "kI8"), ("kInt", "kI8")]:
            cases.append((kind, data, typ, 7, (11, 9), False, (0, 1)))
            cases.append((kind, data, typ, 8, (11, 9), False, (0,)))
            cases.append((kind, data, typ, 9, (11, 9), False, (1,)))
            cases.append((kind, data, typ, 10, (9, 11), True, (1,)))
        cases.append((kind, "kSpecial", "kF8", 11, (3, 4, 5), False, (0, 1, 2)))
        cases.append((kind, "kNaNRuns", "kF8", 12, (3, 4, 5), False, (1,)))
        cases.append((kind, "kTies", "kF8", 13, (3, 4, 5), True, (2,)))
        cases.append((kind, "kNaNRuns", "kF8", 14, (37,), False, (0,)))
        cases.append((kind, "kAllNaN", "kF8", 15, (4, 6), False, (0, 1)))
        cases.append((kind, "kAllNaN", "kF4", 16, (4, 6), False, (1,)))
        cases.append((kind, "kUniform", "kF8", 17, (1, 1), False, (0, 1)))
        cases.append((kind, "kSpecial", "kF8", 18, (2000,), False, (0,)))
        # Rows longer than the native scan's 256-element blocks, ties across blocks.
        for data, typ in [("kTies", "kF8"), ("kNaNRuns", "kF8"), ("kSpecial", "kF4"), ("kSmallInt", "kI8")]:
            cases.append((kind, data, typ, 19, (3, 1000), False, (1,)))
            cases.append((kind, data, typ, 20, (3, 1000), False, (0, 1)))
    for kind, data, typ, seed, shape, transposed, axes in cases:
        x = base(data, typ, seed, shape)
        if transposed:
            x = x.T
        func, argfunc, _ = KINDS[kind]
        flat = len(axes) == x.ndim or x.ndim == 1
        if flat:
            origin = tuple(3 + 2 * d for d in range(x.ndim))
            total = tuple(o + s + 5 for o, s in zip(origin, x.shape))
            info, along = (origin, total), 0
        else:
            origin, total, along = (), (), 17
            info = along
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = arg_chunk(func, argfunc, x, axes, info)
        rows.append(f"    {{ArgKind::{kind}, Data::{data}, Type::{typ}, {seed}, {vec(shape)}, "
                    f"{'true' if transposed else 'false'}, {vec(axes)}, {vec(origin)}, {vec(total)}, {along}, "
                    f"{vec(r.shape)}, 0x{fnv(bits(r['vals'])):016x}ULL, 0x{fnv(bits(r['arg'])):016x}ULL}},")
    return rows


def combine_rows():
    rows = []
    cases = []
    for kind in KINDS:
        for data, typ in [("kUniform", "kF8"), ("kSpecial", "kF8"), ("kTies", "kF8"), ("kNaNRuns", "kF8"),
                          ("kNaNRuns", "kF4"), ("kSmallInt", "kI8")]:
            for axes in [(0, 1), (0,), (1,)]:
                for step in ("kCombine", "kAgg"):
                    cases.append((kind, step, data, typ, 21, (6, 5), axes, step == "kCombine"))
            cases.append((kind, "kAgg", data, typ, 22, (6, 5), (1,), True))
            cases.append((kind, "kAgg", data, typ, 23, (17,), (0,), False))
        if kind.startswith("kNan"):
            for data in ("kNaNRuns", "kAllNaN", "kUniform"):
                for axes in [(0, 1), (0,), (1,)]:
                    cases.append((kind, "kNanAgg", data, "kF8", 24, (4, 3), axes, False))
        cases.append((kind, "kCombine", "kSpecial", "kF8", 25, (3, 4, 2), (1,), True))
        cases.append((kind, "kAgg", "kSpecial", "kF8", 26, (3, 4, 2), (0, 1, 2), False))
    for kind, step, data, typ, seed, shape, axes, keepdims in cases:
        _, argfunc, _ = KINDS[kind]
        vals = base(data, typ, seed, shape)
        arg = (lcg(seed + 1000, vals.size) >> np.uint64(20)).astype(np.int64).reshape(shape)
        d = np.empty(shape, dtype=[("vals", vals.dtype), ("arg", np.int64)])
        d["vals"] = vals
        d["arg"] = arg
        raises = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                if step == "kCombine":
                    r = arg_combine(argfunc, d, axis=axes, keepdims=True)
                    out_vals, out_arg = r["vals"], r["arg"]
                else:
                    f = arg_agg if step == "kAgg" else nanarg_agg
                    out_arg = f(argfunc, d, axis=axes, keepdims=keepdims)
                    out_vals = None
            except ValueError:
                raises = True
        if raises:
            shape_out, scalar, vh, ah = (), False, 0, 0
        else:
            shape_out, scalar = np.shape(out_arg), isinstance(out_arg, np.generic)
            vh = fnv(bits(out_vals)) if out_vals is not None else 0
            ah = fnv(bits(out_arg))
        rows.append(f"    {{ArgKind::{kind}, Step::{step}, Data::{data}, Type::{typ}, {seed}, {vec(shape)}, "
                    f"{vec(axes)}, {'true' if keepdims else 'false'}, {'true' if raises else 'false'}, "
                    f"{vec(shape_out)}, {'true' if scalar else 'false'}, 0x{vh:016x}ULL, 0x{ah:016x}ULL}},")
    return rows


def pipeline_rows():
    rows = []
    cases = []
    for kind in KINDS:
        for data, typ in [("kSpecial", "kF8"), ("kTies", "kF8"), ("kNaNRuns", "kF8"), ("kNaNRuns", "kF4"),
                          ("kSmallInt", "kI8")]:
            for axis in (-1, 0, 1):
                cases.append((kind, data, typ, 31, (23, 17), (6, 5), axis))
        cases.append((kind, "kSpecial", "kF8", 32, (5, 6, 7), (2, 4, 3), -1))
        cases.append((kind, "kSpecial", "kF8", 33, (5, 6, 7), (2, 4, 3), 2))
        cases.append((kind, "kNaNRuns", "kF8", 34, (61,), (8,), -1))
        cases.append((kind, "kAllNaN", "kF8", 35, (4, 6), (2, 3), 0))
    for kind, data, typ, seed, shape, chunks, axis in cases:
        x = base(data, typ, seed, shape)
        fn = getattr(da, KINDS[kind][2])
        # One level: every chunk's partial meets in the aggregate (no arg_combine), as
        # arg_reduce_test.cc replays it.
        expr = fn(da.from_array(x, chunks=chunks), axis=None if axis < 0 else axis, split_every=64)
        assert not any(str(k[0] if isinstance(k, tuple) else k).startswith("arg_combine")
                       for k in dict(expr.__dask_graph__())), "more than one level"
        raises = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                r = np.asarray(dask.compute(expr, scheduler="sync")[0])
            except ValueError:
                raises = True
        shape_out, ah = ((), 0) if raises else (r.shape, fnv(bits(r)))
        rows.append(f"    {{ArgKind::{kind}, Data::{data}, Type::{typ}, {seed}, {vec(shape)}, {vec(chunks)}, {axis}, "
                    f"{'true' if raises else 'false'}, {vec(shape_out)}, 0x{ah:016x}ULL}},")
    return rows


if __name__ == "__main__":
    print("// Generated by tests/worker/gen_arg_reduce_expected.py with dask", dask.__version__, "and numpy",
          np.__version__)
    print("const ChunkCase kChunkCases[] = {")
    print("\n".join(chunk_rows()))
    print("};\n")
    print("const CombineCase kCombineCases[] = {")
    print("\n".join(combine_rows()))
    print("};\n")
    print("const PipelineCase kPipelineCases[] = {")
    print("\n".join(pipeline_rows()))
    print("};")
