#!/usr/bin/env bash
# Install everything dask-native needs on a fresh Debian 12 machine, idempotently:
# Debian packages, the pinned .venv, and the C++ build. Safe to re-run; each step is
# skipped when already done. Usage: .ci/bootstrap.sh [--fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  git                                        # .ci/check_format.sh lists the tracked files
  clang libclang-rt-14-dev                   # libFuzzer, ASan, UBSan
  clang-format-19                            # .ci/check_format.sh (plain clang-format is 14)
  libboost-dev libboost-system-dev           # Asio, Beast
  libboost-program-options-dev               # the binaries' command lines
  libmsgpack-cxx-dev libxtensor-dev libtbb-dev
  libzstd-dev liblz4-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-dev python3-venv                   # embedding: libpython3.11 + headers
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The venv is made from Debian's python3, whose libpython3.11.so the native binaries
# link, so the embedded interpreter is exactly this one with exactly these packages.
# dask_native is installed editable here, for development; `pip wheel client-python`
# makes the wheel users install.
stamp=.venv/.requirements.sha
want=$( (cat requirements.txt client-python/pyproject.toml client-python/src/dask_native/__init__.py) |
  sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== python: .venv from requirements.txt"
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e client-python
  echo "$want" > "$stamp"
fi

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# Relative paths in the cache keys, so a fresh clone elsewhere reuses the cache. With -g,
# ccache also hashes the working directory unless told not to; the debug info of a hit
# then names the first clone's directory, which no test reads.
export CCACHE_BASEDIR=$PWD
export CCACHE_NOHASHDIR=1
echo "== build: build/ (gcc, RelWithDebInfo)"
[ -f build/build.ninja ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
# Install the binaries into the venv, as a user installs them into theirs: they embed the
# environment they sit in, and the tests and the seed find them beside its python.
cmake --install build --prefix .venv >/dev/null

if [ "${1:-}" = "--fuzz" ]; then
  echo "== build: build-fuzz/ (clang, libFuzzer + ASan + UBSan, protocol only)"
  [ -f build-fuzz/build.ninja ] || CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja \
      -DDN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j"$(nproc)"
fi
