"""dask-native installs like real software and runs with no source tree in reach.

The binaries go into a temporary prefix (`cmake --install`), the Python package into a
fresh venv as a wheel (`pip wheel`) with only the pinned requirements beside it. The
seed then runs against the installed binaries in a private mount namespace where the
checkout is hidden under an empty tmpfs, so anything that still reads the source tree
(a compiled-in path, a `parents[3]` lookup) fails here.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DN_BUILD_DIR", REPO / "build"))
# The pins the binaries check, read as CMake reads them: name[extras]==version.
PINS = {m.group(1): m.group(2) for m in re.finditer(
    r"^(dask|distributed|numpy)(?:\[[a-z,]*\])?==(\S+)", (REPO / "requirements.txt").read_text(),
    re.M)}


def run(argv, **kw):
    """Run a set-up step; on failure show its output, not just the exit status."""
    kw.setdefault("timeout", 600)
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{argv} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the test run's DN_* or venv variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DN_", "VIRTUAL_ENV", "CONDA_", "PYTHON"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(prefix, venv): the binaries installed into prefix, the wheel and pins into venv."""
    if not (BUILD / "build.ninja").exists():
        pytest.fail(f"no build in {BUILD}: run .ci/bootstrap.sh (make build) first")
    root = tmp_path_factory.mktemp("install")
    prefix, venv = root / "prefix", root / "venv"
    run(["cmake", "--install", BUILD, "--prefix", prefix])
    # Build the wheel from a copy, so the build leaves nothing (build/, egg-info) in the
    # checkout.
    src = root / "client-python"
    shutil.copytree(REPO / "client-python", src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "wheels", src])
    wheels = list((root / "wheels").glob("dask_native-*.whl"))
    assert len(wheels) == 1, wheels
    run(["/usr/bin/python3", "-m", "venv", venv])
    run([venv / "bin/pip", "install", "-q", "--disable-pip-version-check",
         "-r", REPO / "requirements.txt", wheels[0]])
    return prefix, venv


def test_the_prefix_holds_both_binaries_and_no_source_paths(installed):
    prefix, _ = installed
    names = sorted(p.name for p in (prefix / "bin").iterdir())
    assert names == ["dask-native-scheduler", "dask-native-worker"]
    for name in names:
        # Debug info and assertion messages name source files; no path the program
        # uses may point into the checkout's venv.
        assert str(REPO / ".venv").encode() not in (prefix / "bin" / name).read_bytes(), name


def test_the_seed_runs_on_the_installed_product_with_the_checkout_hidden(installed, tmp_path):
    prefix, venv = installed
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to hide the checkout")
    # Hide the checkout (and so its .venv and build/) in a private mount namespace, then
    # run the README's seed workload with the installed binaries found on PATH.
    script = (f"mount -t tmpfs none {REPO} && cd / && "
              f"exec {venv}/bin/python -m dask_native.seed --logs {tmp_path}/logs")
    env = clean_env(PATH=f"{prefix}/bin:/usr/local/bin:/usr/bin:/bin")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, env=env, timeout=300)
    out = p.stdout + p.stderr
    logs = "".join(f"\n== {f.name}\n{f.read_text()[-2000:]}"
                   for f in sorted((tmp_path / "logs").glob("*.log")))
    assert p.returncode == 0, out + logs
    assert "fully native" in out
    # The seed itself checks the result (the mean of 4e8 uniform values is 0.5).
    assert "x.sum() = " in out and "persist + sum took" in out, out


def test_a_binary_embeds_the_activated_venv(installed):
    prefix, venv = installed
    p = subprocess.Popen([prefix / "bin/dask-native-scheduler", "--port", "0",
                          "--dashboard-address", ":0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=clean_env(VIRTUAL_ENV=str(venv)), cwd="/")
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "Scheduler at" not in line:
            line = p.stdout.readline()
            if not line and p.poll() is not None:
                break
        assert "Scheduler at: tcp://" in line, line + (p.stdout.read() if p.poll() is not None else "")
    finally:
        p.kill()
        p.wait()


def fake_venv(path: pathlib.Path, versions: dict[str, str]) -> pathlib.Path:
    """A venv without pip whose site-packages claims `versions` (metadata only)."""
    run(["/usr/bin/python3", "-m", "venv", "--without-pip", path])
    site = next(path.glob("lib/python3*/site-packages"))
    for name, version in versions.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path / "bin/python"


@pytest.mark.parametrize("binary", ["dask-native-scheduler", "dask-native-worker"])
def test_a_mismatched_environment_stops_the_binary_with_one_clear_line(installed, tmp_path,
                                                                       binary):
    prefix, _ = installed
    from dask_native import __version__
    assert len(PINS) == 3, PINS
    python = fake_venv(tmp_path / "venv", {**PINS, "numpy": "1.26.4",
                                           "dask_native": __version__})
    args = ["--port", "0"] if binary == "dask-native-scheduler" else ["tcp://127.0.0.1:9"]
    p = subprocess.run([prefix / "bin" / binary, *args, "--python", python],
                       capture_output=True, text=True, env=clean_env(), timeout=60)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert f"numpy is 1.26.4, this build needs {PINS['numpy']}" in lines[0]
    assert "dask is" not in lines[0] and "distributed is" not in lines[0]
    assert "--python or DN_PYTHON" in lines[0]


def test_missing_packages_are_named(installed, tmp_path):
    prefix, _ = installed
    python = fake_venv(tmp_path / "venv", {})
    p = subprocess.run([prefix / "bin/dask-native-worker", "tcp://127.0.0.1:9"],
                       capture_output=True, text=True, env=clean_env(DN_PYTHON=str(python)),
                       timeout=60)
    # The nanny gives up at once: restarting cannot fix the environment.
    assert p.returncode == 1
    assert "restarting" not in p.stderr
    problem = [line for line in p.stderr.splitlines() if "does not match this build" in line]
    assert len(problem) == 1, p.stderr
    for name in ("dask", "distributed", "numpy", "dask_native"):
        assert f"{name} is missing" in problem[0]


def test_the_wheel_finds_binaries_on_path_and_never_in_a_source_tree(installed):
    prefix, venv = installed
    code = ("import dask_native, dask_native.binaries as b; "
            "print(dask_native.__file__); print(b.native_binary('dask-native-worker'))")
    p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs none {REPO} && cd / && exec {venv}/bin/python -c \"{code}\""],
            env=clean_env(PATH=f"{prefix}/bin:/usr/bin:/bin"))
    module, binary = p.stdout.split()
    assert module.startswith(str(venv)), module
    assert binary == f"{prefix}/bin/dask-native-worker"
    p = subprocess.run([venv / "bin/python", "-c", code], capture_output=True, text=True,
                       env=clean_env(), cwd="/")
    assert p.returncode != 0 and "dask-native-worker not found" in p.stderr, p.stderr
