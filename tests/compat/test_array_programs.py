"""Array programs that once failed on this cluster, each against the same program run
by dask's synchronous scheduler, with a time bound that fails the test instead of
hanging it.

- map_overlap with the reflect boundary hung on native workers: a reversed one-row
  slice kept a negative stride its worker could not send, and the peer asked again
  forever (worker/native/ndarray.cc AsCContiguous).
- cumsum and tril failed at the native scheduler's graph ingestion: their graphs carry
  an empty array out of band (graph_ingest._buffer_bytes).
"""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

TIMEOUT = 60  # seconds; each case takes well under one


def _x():
    return da.random.RandomState(18).random_sample((400, 400), chunks=(100, 100))


CASES = {
    "map_overlap-reflect": lambda x: x.map_overlap(lambda b: b * 2, depth=1,
                                                   boundary="reflect").sum(),
    "map_overlap-reflect-blocks": lambda x: x.map_overlap(lambda b: b * 2, depth=1,
                                                          boundary="reflect"),
    "cumsum-axis0": lambda x: x.cumsum(axis=0),
    "tril": lambda x: da.tril(x),
    "diag": lambda x: da.diag(x),
}


@pytest.mark.parametrize("name", list(CASES))
def test_array_program_matches_sync_scheduler(client, name):
    expr = CASES[name](_x())
    with dask.config.set(scheduler="sync"):
        expected = expr.compute()
    got = client.compute(expr).result(timeout=TIMEOUT)
    np.testing.assert_array_equal(got, expected)
