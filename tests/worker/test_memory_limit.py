"""--memory-limit parses as `dask worker` parses it (distributed.worker_memory)."""
import logging
import os
import pathlib
import subprocess

import pytest
from distributed import system
from distributed.worker_memory import parse_memory_limit

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL = pathlib.Path(os.environ.get("DN_BUILD_DIR", REPO / "build")) / "tests" / "dn-worker-config-tool"

SPECS = ["auto", "0", "0.5", "1", "0.25", "7G", "4GiB", "100MB", "1e9", "2000000000", "1.5e9",
         "512MiB", "1 GB", "3gb", "100TB", "20", "1_000_000_000", "kb", "5 foos", "lots", "-2GB"]


@pytest.mark.parametrize("nthreads,cores", [(1, 2), (1, 8), (4, 2)])
def test_memory_limit_matches_distributed(monkeypatch, nthreads, cores):
    sys_limit = 24 * 2**30
    monkeypatch.setattr(system, "MEMORY_LIMIT", sys_limit)
    stdin = "".join(f"{s}|{nthreads}|{cores}|{sys_limit}\n" for s in SPECS)
    out = subprocess.run([str(TOOL)], input=stdin, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert len(out) == len(SPECS)
    for spec, got in zip(SPECS, out):
        try:
            expected = parse_memory_limit(spec, nthreads, total_cores=cores,
                                          logger=logging.getLogger("t"))
        except ValueError:
            expected = "ERR"
        if expected == "ERR" or (isinstance(expected, int) and expected < 0):
            assert got.startswith("ERR"), (spec, got)  # we also refuse negative limits
        else:
            assert got == str(expected), (spec, got, expected)
