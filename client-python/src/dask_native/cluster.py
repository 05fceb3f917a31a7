"""Start a scheduler and workers as separate processes on 127.0.0.1, the way the dask
Helm chart runs them, and stop them again. The commands are parameters, so the same
launcher runs stock `dask scheduler`/`dask worker` and, later, the native binaries."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing


def _die_with_parent() -> None:
    # Runs in the child before exec: if the launching process dies (a test run killed by
    # a timeout), the kernel sends this child SIGTERM instead of leaving it orphaned.
    import ctypes
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM) in MB, for the benchmarks; for a nanny,
    the largest of it and its children (the worker process)."""
    def one(p):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    children = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return max([one(pid), *(one(c) for c in children)], key=lambda m: -1 if m != m else m)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening")
        with closing(socket.socket()) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class ProcessCluster:
    """A scheduler and `n_workers` workers in their own processes.

    `scheduler_cmd` and `worker_cmd` (or one of `worker_cmds` per worker) are argv
    prefixes; host/port flags are added here, then `worker_args`.
    Use as a context manager; every process is terminated (then killed) on exit.
    """

    def __init__(self, n_workers: int = 3, nthreads: int = 1, memory_limit: str = "auto",
                 scheduler_cmd: list[str] | None = None, worker_cmd: list[str] | None = None,
                 log_dir: str | None = None, nanny: bool = False,
                 worker_cmds: list[list[str]] | None = None,
                 worker_args: list[str] | None = None, stop_grace: float = 10.0):
        bindir = os.path.dirname(sys.executable)
        self.scheduler_cmd = scheduler_cmd or [os.path.join(bindir, "dask"), "scheduler"]
        self.worker_cmd = worker_cmd or [os.path.join(bindir, "dask"), "worker"]
        # One command per worker (mixed clusters); defaults to worker_cmd for all.
        self.worker_cmds = worker_cmds or [self.worker_cmd] * n_workers
        self.worker_args = worker_args or []
        self.n_workers = n_workers
        self.nthreads = nthreads
        self.memory_limit = memory_limit
        self.log_dir = log_dir
        self.nanny = nanny
        self.port = free_port()
        self.dashboard_port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self._workers_started = 0
        # Seconds stop() waits after SIGTERM before it SIGKILLs what is left.
        self.stop_grace = stop_grace

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen:
        out = subprocess.DEVNULL
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            out = open(os.path.join(self.log_dir, f"{name}.log"), "wb")
        # Native binaries embed the Python environment they are launched from: this one,
        # unless the caller chose another with DN_PYTHON.
        env = dict(os.environ)
        env.setdefault("DN_PYTHON", sys.executable)
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=_die_with_parent, env=env)
        self.procs.append(p)
        return p

    def start(self, timeout: float = 60) -> "ProcessCluster":
        sched = self._spawn(self.scheduler_cmd + [
            "--host", "127.0.0.1", "--port", str(self.port),
            "--dashboard-address", f"127.0.0.1:{self.dashboard_port}"], "scheduler")
        _wait_for_port(self.port, sched, timeout)
        for i in range(self.n_workers):
            self.add_worker(self.worker_cmds[i])
        return self

    def add_worker(self, worker_cmd: list[str] | None = None) -> subprocess.Popen:
        """Start one more worker (with the cluster's threads, memory limit, nanny setting
        and extra arguments) and return its process, appended to `procs`. It is named
        `worker-<n>`, n counting every worker this cluster has started, so a replacement
        for a killed worker never takes a name the scheduler may still hold.
        `worker_cmd` defaults to the command of the first worker."""
        i = self._workers_started
        self._workers_started += 1
        argv = worker_cmd or self.worker_cmds[0]
        return self._spawn(argv + [
            self.address, "--nthreads", str(self.nthreads), "--memory-limit",
            self.memory_limit, "--name", f"worker-{i}", "--host", "127.0.0.1",
            "--dashboard-address", "127.0.0.1:0",
            *([] if self.nanny else ["--no-nanny"]), *self.worker_args], f"worker-{i}")

    def live_workers(self) -> list[subprocess.Popen]:
        """The worker processes (or nannies) started by this cluster that have not exited."""
        return [p for p in self.procs[1:] if p.poll() is None]

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for p in reversed(self.procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()

    def __enter__(self) -> "ProcessCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
