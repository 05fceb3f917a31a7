"""Write the hand-picked seed inputs in tests/fuzz/corpus/ (the shared vectors are the
rest of the seed corpus). Run with the project venv; the outputs are committed."""
import os
import pickle
import struct
import sys

import lz4.block
import numpy as np
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))


def write(folder, name, data):
    d = os.path.join(HERE, "corpus", folder)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def framed(frames, nosplit_frames=None):
    n = len(frames)
    k = n if nosplit_frames is None else nosplit_frames
    nosplit = 8 * (1 + n) + sum(len(f) for f in frames[:k])
    return struct.pack(f"<QQ{n}Q", nosplit, n, *map(len, frames)) + b"".join(frames)


def main():
    payload = (b"dask-native " * 200) + bytes(range(256))
    # decompress: first byte selects the codec (even: lz4, odd: zstd).
    write("decompress", "lz4_text", b"\x00" + lz4.block.compress(payload))
    write("decompress", "zstd_text", b"\x01" + zstandard.ZstdCompressor(level=3).compress(payload))
    cobj = zstandard.ZstdCompressor(write_content_size=False)
    write("decompress", "zstd_no_size", b"\x01" + cobj.compress(payload))
    write("decompress", "lz4_empty", b"\x00" + lz4.block.compress(b""))
    # frame_decoder / message_decoder: odd framings.
    write("frame_decoder", "empty_frames", framed([b"\x80", b"", b""], 1))
    write("frame_decoder", "two_messages", framed([b"\xc0"]) + framed([b"\x91\x01"], 0))
    write("frame_decoder", "zero_frames", struct.pack("<QQ", 8, 0))
    # pickle_reader: values CPython writes with each protocol.
    values = [None, True, 2**70, -(2**40), 1.5, "h\u00e9", b"b" * 300, bytearray(b"ab"),
              (1, 2, 3, 4), [1] * 1001, {i: i for i in range(1000)}, {1, 2}, frozenset({3}),
              slice(1, 2), np.float64(0.25), np.arange(6).reshape(2, 3)[:, ::2]]
    for proto in (2, 3, 4, 5):
        for i, v in enumerate(values):
            try:
                data = pickle.dumps(v, protocol=proto)
            except Exception:
                continue
            write("pickle_reader", f"p{proto}_{i}", data)
    r = []
    r.append(r)
    write("pickle_reader", "recursive_list", pickle.dumps(r, protocol=5))


if __name__ == "__main__":
    sys.exit(main())
