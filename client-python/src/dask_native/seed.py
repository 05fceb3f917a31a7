"""The main job: start a local cluster and run the seed workload with the stock client.

    x = da.random.random((20000, 20000), chunks=(2000, 2000)).persist()
    x.sum().compute()

The cluster is fully native: dask-native-scheduler and 3 dask-native-worker processes
(1 thread each), as the Helm chart deploys them. `--stock` runs the all-stock cluster
(`dask scheduler` + `dask worker`) for comparison, and `--stock-workers` the native
scheduler with stock workers. The output says which ran.
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
    ap.add_argument("--stock", action="store_true", help="an all-stock cluster instead")
    ap.add_argument("--stock-workers", action="store_true",
                    help="the native scheduler with stock workers")
    args = ap.parse_args(argv)

    from dask_native import binaries
    from dask_native.cluster import ProcessCluster

    if not args.stock:
        native_scheduler = binaries.scheduler_cmd()
        native_worker = None if args.stock_workers else binaries.worker_cmd()
    if args.stock:
        scheduler_cmd, worker_cmd, what = None, None, "stock `dask scheduler` + {n} stock `dask worker`"
    elif args.stock_workers:
        scheduler_cmd, worker_cmd = native_scheduler, None
        what = "dask-native-scheduler + {n} stock `dask worker`"
    else:
        scheduler_cmd, worker_cmd = native_scheduler, native_worker
        what = "dask-native-scheduler + {n} dask-native-worker (fully native)"
    print(f"cluster: {what.format(n=args.workers)}, 1 thread each, on 127.0.0.1")
    with ProcessCluster(n_workers=args.workers, log_dir=args.logs,
                        scheduler_cmd=scheduler_cmd, worker_cmd=worker_cmd) as cluster:
        print("scheduler:", cluster.address)
        run_seed(cluster.address, args.shape, args.chunk, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
