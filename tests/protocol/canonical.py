"""Decode framed dask messages with Python's msgpack and print them in the typed JSON
form that `dn-wire-tool message` prints, so the two decoders can be compared."""
from __future__ import annotations

import struct

import msgpack


def split_frames(wire: bytes) -> tuple[list[bytes], int]:
    """Return (frames, nosplit) of one framed message (docs/protocol.md#framing)."""
    nosplit, n = struct.unpack_from("<QQ", wire, 0)
    lengths = struct.unpack_from(f"<{n}Q", wire, 16)
    frames, off = [], 16 + 8 * n
    for length in lengths:
        frames.append(wire[off : off + length])
        off += length
    assert off == len(wire), "trailing bytes after the message"
    return frames, nosplit


class _Map(list):
    """A msgpack map kept as ordered pairs (keys may be unhashable arrays)."""


def _loads(frame: bytes):
    return msgpack.unpackb(frame, raw=False, strict_map_key=False, use_list=True,
                           object_pairs_hook=_Map)


def _get(pairs, key, default=None):
    for k, v in pairs:
        if k == key and type(k) is str:
            return v
    return default


def _canonical(v, frames, placeholders: bool, sets: bool):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": struct.pack(">d", v).hex()}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, bytes):
        return {"bin": v.hex()}
    if isinstance(v, _Map):
        if placeholders:
            for name, tag in (("__Serialized__", "serialized"), ("__Pickled__", "pickled")):
                k = _get(v, name, 0)
                if type(k) is int and k > 0:
                    header = _loads(frames[k])
                    n = _get(header, "num-sub-frames")
                    sub = frames[k + 1 : k + 1 + n]
                    return {tag: {
                        "header": _canonical(header, frames, False, tag == "serialized"),
                        "frames": [f.hex() for f in sub],
                    }}
        if sets and _get(v, "__Set__") is True:
            return {"set": [_canonical(x, frames, placeholders, sets) for x in _get(v, "as-list")]}
        return {"map": [[_canonical(k, frames, placeholders, sets),
                         _canonical(x, frames, placeholders, sets)] for k, x in v]}
    if isinstance(v, list):
        return [_canonical(x, frames, placeholders, sets) for x in v]
    raise TypeError(type(v))


def canonical_message(wire: bytes):
    """Return the typed JSON value of one framed message."""
    frames, _ = split_frames(wire)
    return _canonical(_loads(frames[0]), frames, True, True)
