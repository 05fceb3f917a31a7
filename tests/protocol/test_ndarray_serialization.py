"""Arrays serialized by the C++ side deserialize in stock distributed to equal numpy
arrays, across dtypes, orders, broadcast views and shard splits; and headers match
what distributed itself writes."""
import numpy as np
import pytest
from distributed.protocol.serialize import deserialize, serialize_and_split
from distributed.protocol.core import loads

from canonical import split_frames
from protocol_tool import run_tool

CASES = [
    ("f8", (7, 5), "C"), ("f8", (7, 5), "F"), ("f4", (3, 4, 5), "C"), ("i8", (100,), "C"),
    ("u1", (65536,), "C"), ("b1", (10, 3), "C"), ("i2", (0, 4), "C"), ("f8", (), "C"),
    ("c16", (4, 4), "F"), ("M8[ns]", (6,), "C"), ("<U3", (5,), "C"), (">i4", (8,), "C"),
]


def _encode(wire_tool, tmp_path, arr, shard=None, codec=None):
    data = tmp_path / "data.bin"
    out = tmp_path / "msg.bin"
    data.write_bytes(arr.tobytes(order="A"))
    shape = ",".join(map(str, arr.shape))
    strides = ",".join(map(str, arr.strides))
    args = ["ndarray-encode", arr.dtype.str, shape, strides, data, out]
    if shard or codec:
        args.append(shard or 64 * 2**20)
    if codec:
        args.append(codec)
    r = run_tool(wire_tool, *args)
    assert r.returncode == 0, r.stderr
    frames, _ = split_frames(out.read_bytes())
    return loads(frames, deserialize=True)


@pytest.mark.parametrize("dtype,shape,order", CASES)
def test_native_arrays_deserialize_in_distributed(wire_tool, tmp_path, dtype, shape, order):
    rng = np.random.default_rng(0)
    arr = np.asarray(rng.integers(0, 100, size=shape), order=order).astype(dtype, order=order)
    msg = _encode(wire_tool, tmp_path, arr)
    assert msg["op"] == "x"
    got = msg["data"]
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)
    assert got.flags.f_contiguous == arr.flags.f_contiguous


def test_sharded_array(wire_tool, tmp_path):
    arr = np.arange(10000, dtype="f8").reshape(100, 100)
    got = _encode(wire_tool, tmp_path, arr, shard=3000)["data"]
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_compressed_frames_decompress_in_distributed(wire_tool, tmp_path, codec):
    """Frames compressed on the C++ side are read by distributed's own decompress."""
    arr = np.tile(np.arange(16, dtype="u1"), 8192).reshape(64, 2048)
    msg_file = tmp_path / "msg.bin"
    got = _encode(wire_tool, tmp_path, arr, shard=50000, codec=codec)["data"]
    np.testing.assert_array_equal(got, arr)
    frames, _ = split_frames(msg_file.read_bytes())
    import msgpack
    header = msgpack.unpackb(frames[1], raw=False)
    assert header["compression"] == [codec] * 3  # 131072 bytes in 50000-byte shards
    assert all(len(f) < 50000 * 0.7 for f in frames[2:])


def test_header_matches_distributed(wire_tool, tmp_path):
    """Our sub-header equals the one distributed builds for the same array."""
    import msgpack
    arr = np.arange(12, dtype="f8").reshape(3, 4)
    data = tmp_path / "data.bin"
    out = tmp_path / "msg.bin"
    data.write_bytes(arr.tobytes())
    run_tool(wire_tool, "ndarray-encode", "<f8", "3,4", "32,8", data, out)
    frames, _ = split_frames(out.read_bytes())
    ours = msgpack.unpackb(frames[1], raw=False, use_list=False)
    header, stock_frames = serialize_and_split(arr)
    header["num-sub-frames"] = len(stock_frames)
    stock = msgpack.unpackb(msgpack.packb(header, use_bin_type=True), raw=False, use_list=False)
    assert ours == stock
    assert list(ours) == list(stock)  # same key order
    assert deserialize(header, stock_frames).tolist() == arr.tolist()
