#!/usr/bin/env bash
# Soak: the worker-kill compat test (a 3,999-task tree, one worker SIGKILLed at 50 % or
# 90 %, as a process group or under its nanny) LOOPS times per case, on the native
# cluster and on the native scheduler with stock workers. Not part of make test (it
# takes about 10 s a run). Usage: tests/soak/worker_kills.sh [LOOPS=100] [CLUSTER...]
set -euo pipefail
cd "$(dirname "$0")/../.."
loops=${1:-100}
shift || true
if [ $# -gt 0 ]; then clusters=("$@"); else clusters=(native native-scheduler); fi
for c in "${clusters[@]}"; do
  echo "== worker-kill soak: $loops loops per case on the '$c' cluster"
  DN_KILL_LOOPS=$loops DN_COMPAT_CLUSTER=$c .venv/bin/python -m pytest -q \
    tests/compat/test_worker_loss.py -k mid_tree
done
