"""Array programs that once failed on this cluster, each against the same program run
by dask's synchronous scheduler, with a time bound that fails the test instead of
hanging it.

- map_overlap with the reflect boundary hung on native workers: a reversed one-row
  slice kept a negative stride its worker could not send, and the peer asked again
  forever (worker/native/ndarray.cc AsCContiguous).
- cumsum and tril failed at the native scheduler's graph ingestion: their graphs carry
  an empty array out of band (graph_ingest._buffer_bytes).
- da.diag of from_array blocks names keys with numpy integers, which the stock
  scheduler's msgpack sends pickled; native workers dropped those compute-tasks
  (protocol/messages/key.cc Key::FromPickle).
- An input that fails to deserialize on a native worker was fetched again forever.
"""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import wait

from compat_cluster import native_workers_only

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
    "diag-from_array": lambda x: da.diag(da.from_array(np.arange(36.0).reshape(6, 6), chunks=2)),
    "eye-from_array-blocks": lambda x: da.eye(6, chunks=2) @ da.from_array(
        np.arange(36.0).reshape(6, 6), chunks=2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_array_program_matches_sync_scheduler(client, name):
    expr = CASES[name](_x())
    with dask.config.set(scheduler="sync"):
        expected = expr.compute()
    got = client.compute(expr).result(timeout=TIMEOUT)
    np.testing.assert_array_equal(got, expected)


@native_workers_only
def test_an_input_that_fails_to_deserialize_errs_the_task_waiting_for_it(client):
    """An int16 masked array carries numpy's default fill_value 999999, which dask's
    masked-array serializer refuses when the array is rebuilt on another worker. The
    native worker that receives it errs the task waiting for it, with the reason,
    instead of fetching it again forever. (A stock receiver errs only the input and
    leaves its dependent waiting, dask/distributed#6705, so the receiver here is always
    a native worker.)"""
    workers = client.scheduler_info()["workers"]
    native = [a for a, w in workers.items() if "dask_native" in w["metrics"]]
    source = next(a for a in workers if a != native[0])
    masked = client.submit(np.ma.masked_array, np.arange(4, dtype="int16"),
                           mask=[0, 1, 0, 0], workers=[source], pure=False)
    wait(masked, timeout=TIMEOUT)
    assert masked.status == "finished"  # held by its worker; only rebuilding it fails
    total = client.submit(np.ma.sum, masked, workers=[native[0]], pure=False)
    with pytest.raises(Exception, match="fill_value 999999"):
        total.result(timeout=TIMEOUT)
    # The cluster goes on: the same input without the fill value computes.
    ok = client.submit(np.ma.masked_array, np.arange(4, dtype="int16"), mask=[0, 1, 0, 0],
                       fill_value=7, workers=[source], pure=False)
    assert client.submit(np.ma.sum, ok, workers=[native[0]], pure=False).result(
        timeout=TIMEOUT) == 5
