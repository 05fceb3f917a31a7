#!/usr/bin/env bash
# Soak: the worker-kill compat test (a 999-task tree, one worker SIGKILLed at 50 % or
# 90 %, as a process group or under its nanny) LOOPS times per case, each case on one
# cluster, on the native cluster and on the native scheduler with stock workers. make test
# runs 10 loops per case there; this is the long run (100 loops take 3 to 8 minutes a
# case on 2 cores, the stock nannies' restarts the slowest). Usage: tests/soak/worker_kills.sh [LOOPS=100] [CLUSTER...]
# PYTHON picks the interpreter (default .venv/bin/python); DN_KILL_LEAVES=2000 runs the
# 3,999-task tree of the original report instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
loops=${1:-100}
shift || true
if [ $# -gt 0 ]; then clusters=("$@"); else clusters=(native native-scheduler); fi
python=${PYTHON:-.venv/bin/python}
for c in "${clusters[@]}"; do
  echo "== worker-kill soak: $loops loops per case on the '$c' cluster"
  DN_KILL_LOOPS=$loops DN_COMPAT_CLUSTER=$c "$python" -m pytest -q --durations=0 \
    tests/compat/test_worker_loss.py -k mid_tree
done
