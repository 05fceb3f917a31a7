"""key_split in C++ agrees with the pinned dask.utils.key_split on a wide set of keys,
including every key that appears in the captured traffic."""
import msgpack
from dask.utils import key_split

from protocol_tool import run_tool

KEYS = [
    "x", "x-1", "x-1-2-3", ("x-2", 1), "('x-2', 1)", "('x', 1)", "hello-world-1",
    "ae05086432ca935f6eba409a8ecd4896", "<module.submodule.myclass object at 0xdaf372",
    "x-abcdefab", "x-abcdefgh", "_(x)", "", "-", "--", "a--b", "1-2", "(", "<>", "< >",
    "random_sample-630a3c1d2f0b4b5e8c3e6f1a2b3c4d5e", ("sum-aggregate-finalize-abc", 0),
    "finalize-hlgfinalizecompute-0123456789abcdef0123456789abcdef", "lambda-77",
    "inc-9cac4b6a7f8a2b1c", "Alias-foo-bar", "a-b-c-d-e1", "x-deadbeef", "x-Deadbeef",
    "x-abcdef", "héllo-wörld-1", 5, 2.5, (), (("nested-1", 2), 3), ("('x', 1)",),
    "  spaced -x", "'quoted'-1", "a,b-c", "_x_-y", "x-ABCDEFAB", "x-abcdefa1",
    "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdeg",
]


def test_key_split_matches_dask(wire_tool):
    stdin = "\n".join(msgpack.packb(k, use_bin_type=True).hex() for k in KEYS) + "\n"
    r = run_tool(wire_tool, "keysplit", input=stdin)
    got = r.stdout.splitlines()
    assert len(got) == len(KEYS)
    for k, g in zip(KEYS, got):
        try:
            expected = key_split(k)
        except IndexError:  # dask raises on an empty tuple; we say "Other"
            expected = "Other"
        assert g == expected, k
