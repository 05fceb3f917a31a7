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


def _regenerated() -> pathlib.Path:
    """Vectors captured with the pinned dask/distributed/numpy (tests/golden)."""
    out = BUILD / "vectors-regen"
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
