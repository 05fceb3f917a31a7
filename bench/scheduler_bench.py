"""Stock dask versus dask-native, side by side on this machine.

The stock cluster is `dask scheduler` + 3 `dask worker`; the native one is
dask-native-scheduler + 3 workers, stock ones by default (the scheduler alone is
compared) or dask-native-worker with --native-workers (the fully native cluster). All
workers have 1 thread; the client is the stock one. For each workload it prints wall
time, tasks/s, the scheduler process's CPU time per task (user + system, from /proc)
and the ratio stock / native, then each process's peak resident memory.
Run: .venv/bin/python bench/scheduler_bench.py [--native-workers] [--map N] [--array N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import psutil

import dask
import dask.array as da
from distributed import Client, wait

from dask_native.binaries import native_binary
from dask_native.cluster import ProcessCluster, peak_rss_mb


def inc(x):
    return x + 1


def scheduler_cpu(cluster) -> float:
    t = psutil.Process(cluster.procs[0].pid).cpu_times()
    return t.user + t.system


def measure(cluster, client, name, n_tasks, fn):
    cpu0, t0 = scheduler_cpu(cluster), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - t0, scheduler_cpu(cluster) - cpu0
    return {"workload": name, "tasks": n_tasks, "wall_s": wall, "tasks_per_s": n_tasks / wall,
            "sched_cpu_us_per_task": cpu / n_tasks * 1e6}


def run_suite(kind, args, peaks):
    cmd = wcmd = None
    if kind == "native":
        cmd = [native_binary("dask-native-scheduler")]
        if args.native_workers:
            wcmd = [native_binary("dask-native-worker")]
    results = []
    with ProcessCluster(n_workers=3, scheduler_cmd=cmd, worker_cmd=wcmd) as cluster:
        with Client(cluster.address, timeout=60) as c:
            c.wait_for_workers(3, timeout=60)
            c.submit(inc, 0).result()  # warm the workers' imports

            # 1-task round trip, back to back.
            lat = []
            for i in range(args.latency):
                t0 = time.perf_counter()
                c.submit(inc, i, pure=False).result()
                lat.append(time.perf_counter() - t0)
            results.append({"workload": "1-task latency", "tasks": args.latency,
                            "p50_ms": statistics.median(lat) * 1e3})

            def do_map():
                futs = c.map(inc, range(args.map), pure=False)
                wait(futs)
                del futs

            results.append(measure(cluster, c, f"client.map x{args.map}", args.map, do_map))

            x = (da.ones(args.array * 4, chunks=4) + 1).sum()
            n = len(x.__dask_graph__())
            results.append(measure(cluster, c, f"array graph ({n} tasks before fusion)", n,
                                   lambda: x.compute()))

            def seed():
                y = da.random.random((args.seed, args.seed), chunks=(2000, 2000)).persist()
                y.sum().compute()
                del y

            nseed = (args.seed // 2000) ** 2
            results.append(measure(cluster, c, f"seed {args.seed}^2 persist+sum", nseed * 2, seed))
            peaks[kind] = [peak_rss_mb(p.pid) for p in cluster.procs]
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", type=int, default=10_000)
    ap.add_argument("--array", type=int, default=100_000, help="chunks in the array graph")
    ap.add_argument("--seed", type=int, default=20_000)
    ap.add_argument("--latency", type=int, default=200)
    ap.add_argument("--native-workers", action="store_true",
                    help="native workers too (the fully native cluster)")
    args = ap.parse_args()
    peaks = {}
    stock = run_suite("stock", args, peaks)
    native = run_suite("native", args, peaks)
    # "native better by": >1 means the native scheduler wins on that metric.
    print(f"\n{'workload':42} {'metric':22} {'stock':>10} {'native':>10} {'native better by':>17}")
    for s, n in zip(stock, native):
        for metric in ("p50_ms", "wall_s", "tasks_per_s", "sched_cpu_us_per_task"):
            if metric in s:
                if metric == "tasks_per_s":
                    ratio = n[metric] / s[metric]
                else:
                    ratio = s[metric] / n[metric] if n[metric] else float("inf")
                print(f"{s['workload']:42} {metric:22} {s[metric]:10.2f} {n[metric]:10.2f} "
                      f"{ratio:16.2f}x")
    print("\npeak resident memory (MB): scheduler, worker-0, worker-1, worker-2")
    for kind, mb in peaks.items():
        print(f"  {kind:7} " + ", ".join(f"{m:.0f}" for m in mb))


if __name__ == "__main__":
    main()
