"""The main job: start a local cluster and run the seed workload with the stock client.

    x = da.random.random((20000, 20000), chunks=(2000, 2000)).persist()
    x.sum().compute()

The cluster is dask-native-scheduler with 3 stock `dask worker` processes (1 thread
each) until the native worker lands (issue 4); `--stock` runs the all-stock cluster for
comparison. The output says which ran.
"""
from __future__ import annotations

import argparse
import time


def run_seed(address: str, shape: int = 20000, chunk: int = 2000, n_workers: int = 3) -> float:
    import dask.array as da
    from distributed import Client

    with Client(address) as client:
        client.wait_for_workers(n_workers, timeout=60)
        print("client:", repr(client))
        print("dashboard:", client.dashboard_link)
        t0 = time.perf_counter()
        x = da.random.random((shape, shape), chunks=(chunk, chunk)).persist()
        total = x.sum().compute()
        elapsed = time.perf_counter() - t0
        n = shape * shape
        print(f"x.sum() = {total!r} over {n:,} values (mean {total / n:.6f}); "
              f"persist + sum took {elapsed:.2f} s")
        assert abs(total / n - 0.5) < 0.01, "the mean of uniform [0, 1) values is 0.5"
        del x
        return float(total)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--shape", type=int, default=20000)
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--logs", default=None, help="folder for the processes' logs")
    ap.add_argument("--stock", action="store_true", help="use the stock dask scheduler")
    args = ap.parse_args(argv)

    import os
    import sys

    from dask_native.cluster import ProcessCluster

    if args.stock:
        scheduler_cmd, what = None, "stock `dask scheduler`"
    else:
        scheduler_cmd = [os.path.join(os.path.dirname(sys.executable), "dask-native-scheduler")]
        what = "dask-native-scheduler (native)"
    print(f"cluster: {what} + {args.workers} stock `dask worker` (1 thread each) on "
          "127.0.0.1; the native worker replaces the stock ones in issue 4")
    with ProcessCluster(n_workers=args.workers, log_dir=args.logs,
                        scheduler_cmd=scheduler_cmd) as cluster:
        print("scheduler:", cluster.address)
        run_seed(cluster.address, args.shape, args.chunk, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
