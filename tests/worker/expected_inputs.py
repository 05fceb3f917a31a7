"""What the generators of the C++ tests' expected-value tables share with those tests:
the 64-bit LCG that makes every input (reduce_test.cc and arg_reduce_test.cc implement it
identically, so the tests need no data files) and the FNV-1a hash over output bits."""
import numpy as np

M64 = (1 << 64) - 1


def lcg(seed, n):
    """n successive states of the LCG started at `seed`, as uint64."""
    s = seed & M64
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & M64
        out[i] = s
    return out


def fnv(words):
    """FNV-1a over 64-bit words."""
    h = 0xcbf29ce484222325
    for w in words:
        h ^= int(w)
        h = (h * 0x100000001b3) & M64
    return h
