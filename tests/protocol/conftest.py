import hashlib
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DN_BUILD_DIR", REPO / "build"))
SHARED = pathlib.Path(os.environ.get("DN_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def wire_tool():
    tool = BUILD / "tests" / "dn-wire-tool"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build the project first (make build)")
    return str(tool)


def _golden_key() -> str:
    """Hash of everything a capture depends on: the pins, tests/golden and the shared
    wirecap tools. A capture with the same inputs tests the same things, so it is kept
    across checkouts (a clean clone's CI skips the ~40 s capture)."""
    h = hashlib.sha256()
    for base, files in ((REPO, [REPO / "requirements.txt", *(REPO / "tests/golden").rglob("*")]),
                        (SHARED, (SHARED / "tools/wirecap").rglob("*"))):
        for f in sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(f.relative_to(base)).encode() + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _regenerated() -> pathlib.Path:
    """Vectors captured with the pinned dask/distributed/numpy (tests/golden), cached
    under $DN_VECTOR_CACHE (default ~/.cache/dask-native) by _golden_key();
    DN_REGENERATE=1 captures again."""
    cache = pathlib.Path(os.environ.get("DN_VECTOR_CACHE",
                                        pathlib.Path.home() / ".cache" / "dask-native"))
    out = cache / f"vectors-regen-{_golden_key()}"
    stamp = out / ".complete"
    if not stamp.exists() or os.environ.get("DN_REGENERATE") == "1":
        subprocess.run(["bash", str(REPO / "tests/golden/regenerate.sh"), str(out)], check=True)
        stamp.touch()
    return out


@pytest.fixture(scope="session")
def regenerated_dir():
    return _regenerated()


# Both vector sets: the shared one (dask 2026.7, numpy 1.24) and a fresh capture with
# the pinned versions (numpy._core names, cloudpickle 3).
VECTOR_SETS = ["shared", "regenerated"]


@pytest.fixture(scope="session", params=VECTOR_SETS)
def vector_root(request):
    if request.param == "shared":
        return SHARED / "vectors"
    return _regenerated()
