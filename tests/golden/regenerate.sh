#!/usr/bin/env bash
# Regenerate the golden test vectors with the pinned dask/distributed/numpy of .venv.
#
#   usage: tests/golden/regenerate.sh OUTDIR
#
# Produces OUTDIR/{wire,synthetic,pickles,logs} (see tests/golden/README.md).  Idempotent:
# everything is built in a temp dir and only replaces those four sub-directories of OUTDIR
# once check_outputs.py has accepted it.  The read-only wirecap tools are copied from
# ${DN_SHARED_DIR:-<repo>/../shared}/tools/wirecap to the temp dir at run time (never
# committed); patches/*.patch are applied to that copy.  All servers listen on 127.0.0.1;
# each capture runs in its own session (setsid); every process of those sessions is
# killed, by PID, when the script exits (also on error or Ctrl-C).
#
# Env: PY (default <repo>/.venv/bin/python), DN_SHARED_DIR, GOLDEN_KEEP_WORK=1 (keep temp dir).
set -euo pipefail

OUT_ARG=${1:?usage: $0 OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED=${DN_SHARED_DIR:-$REPO/../shared}
PY=${PY:-$REPO/.venv/bin/python}
WIRECAP_SRC=$SHARED/tools/wirecap

[ -f "$WIRECAP_SRC/run_capture.sh" ] || { echo "error: wirecap tools not found in $WIRECAP_SRC (set DN_SHARED_DIR)" >&2; exit 2; }
[ -x "$PY" ] || { echo "error: python not found: $PY" >&2; exit 2; }

mkdir -p "$OUT_ARG"
OUT=$(cd "$OUT_ARG" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dn-golden.XXXXXX")
NEW=$WORK/out
SIDS=()

session_pids() {  # PIDs of all processes in session $1 (wirecap's scripts start their own
    ps -eo pid=,sid= | awk -v s="$1" '$2 == s {print $1}'   # `timeout` process groups)
}

kill_session() {  # kill_session SID: TERM, then KILL, every process of that session (by PID)
    local sid=$1 i pids
    pids=$(session_pids "$sid")
    [ -n "$pids" ] || return 0
    kill -TERM $pids 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(session_pids "$sid")
        [ -n "$pids" ] || return 0
        sleep 0.3
    done
    kill -KILL $pids 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local sid
    for sid in ${SIDS[@]+"${SIDS[@]}"}; do kill_session "$sid"; done
    if [ "${GOLDEN_KEEP_WORK:-0}" = 1 ]; then
        echo "temp dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_group() {  # run_group SECONDS LOGFILE CMD...: CMD in a new session (setsid) with a timeout
    local secs=$1 log=$2 rc=0 pid sidfile
    shift 2
    sidfile=$WORK/sid.$RANDOM$RANDOM
    # the bash that calls exec is the session leader: its PID is the session id
    setsid -w bash -c 'echo $$ >"$0"; exec timeout -k 5 "$@"' "$sidfile" "$secs" "$@" >"$log" 2>&1 &
    pid=$!
    while [ ! -s "$sidfile" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    [ -s "$sidfile" ] && SIDS+=("$(cat "$sidfile")")
    wait "$pid" || rc=$?
    [ -s "$sidfile" ] && kill_session "$(cat "$sidfile")"  # stragglers (spawned workers)
    return "$rc"
}

START=$SECONDS
echo "dask-native golden vectors -> $OUT"
echo "  python: $PY  ($("$PY" -c 'import dask, distributed, numpy, cloudpickle; print(f"dask {dask.__version__}, distributed {distributed.__version__}, numpy {numpy.__version__}, cloudpickle {cloudpickle.__version__}")'))"
echo "  shared: $SHARED"

# ---------------------------------------------------------------- tool copies
WC=$WORK/wirecap
cp -r "$WIRECAP_SRC" "$WC"
chmod -R u+w "$WC"
for p in "$HERE"/patches/*.patch; do
    [ -e "$p" ] || continue
    patch -s -p1 -d "$WC" --batch --forward <"$p"
done
WC3=$WORK/wirecap-steal            # scenario 3 = run_capture.sh with our steal driver
cp -r "$WC" "$WC3"
cp "$HERE/steal_driver.py" "$WC3/driver.py"

export PY
export DASK_TEMPORARY_DIRECTORY=$WORK/dask-scratch   # worker spill dirs stay in the temp dir
mkdir -p "$DASK_TEMPORARY_DIRECTORY" "$NEW/logs/run" "$NEW/wire"

# ---------------------------------------------------------------- captures
echo "[1/6] scenario 1: LocalCluster + driver.py (flows a-e)"
run_group 150 "$WORK/s1.log" bash "$WC/run_capture.sh" "$WORK/raw1" || echo "  warning: scenario 1 exited with rc=$?"
echo "[2/6] scenario 2: dask scheduler + dask worker --nworkers 2 + driver2.py"
run_group 120 "$WORK/s2.log" bash "$WC/run_capture2.sh" "$WORK/raw2" || echo "  warning: scenario 2 exited with rc=$?"
echo "[3/6] scenario 3: LocalCluster + steal_driver.py (steal_request/steal_response)"
run_group 90 "$WORK/s3.log" bash "$WC3/run_capture.sh" "$WORK/raw3" || echo "  warning: scenario 3 exited with rc=$?"
for s in 1 2 3; do
    cp "$WORK/s$s.log" "$NEW/logs/run/s${s}_run_capture.log"
    for f in "$WORK/raw$s"/*.out; do [ -e "$f" ] && cp "$f" "$NEW/logs/run/s${s}_$(basename "$f")"; done
done

# ---------------------------------------------------------------- analysis
echo "[4/6] analyze.py -> wire/*.bin"
(
    cd "$WC"
    "$PY" analyze.py "$WORK/raw1" "$WORK/an1" >"$NEW/logs/run/analyze_s1.txt" 2>&1
    KEEP_ONLY=scheduler_closes_worker,retire_workers_request,retire_workers_reply,terminate_request,who_has_request,who_has_reply,error_reply_uncaught,error_request_bad_kwarg,heartbeat_worker \
        "$PY" analyze.py "$WORK/raw2" "$WORK/an2" s2_ >"$NEW/logs/run/analyze_s2.txt" 2>&1
    "$PY" "$HERE/select_vectors.py" "$WORK/raw2" "$WORK/an2/vectors" s2_ >>"$NEW/logs/run/analyze_s2.txt" 2>&1
    if [ -d "$WORK/raw3" ] && ls "$WORK/raw3"/rec-*.pkl >/dev/null 2>&1; then
        KEEP_ONLY=steal_request,steal_response \
            "$PY" analyze.py "$WORK/raw3" "$WORK/an3" >"$NEW/logs/run/analyze_s3.txt" 2>&1 || echo "  warning: analysis of scenario 3 failed"
    fi
)
for a in an1 an2 an3; do
    [ -d "$WORK/$a/vectors" ] || continue
    cp "$WORK/$a"/vectors/*.bin "$NEW/wire/" 2>/dev/null || true
done
cp "$WORK/an1"/*.log "$WORK/an1"/vectors_index.json "$WORK/an2"/s2_* "$NEW/logs/"
if [ -d "$WORK/an3" ]; then
    mkdir -p "$NEW/logs/s3_steal"
    cp "$WORK/an3"/*.log "$WORK/an3"/vectors_index.json "$NEW/logs/s3_steal/"
fi

# ---------------------------------------------------------------- synthetic + pickles
echo "[5/6] make_synthetic.py -> synthetic/*.bin"
(cd "$WC" && "$PY" make_synthetic.py "$NEW/synthetic" >"$NEW/logs/run/make_synthetic.txt" 2>&1)
echo "[6/6] make_pickles.py -> pickles/"
"$PY" "$HERE/make_pickles.py" "$NEW/pickles" >"$NEW/logs/run/make_pickles.txt" 2>&1

# ---------------------------------------------------------------- check + install
echo "check:"
if ! "$PY" "$HERE/check_outputs.py" "$NEW" "$WC" "$SHARED/vectors"; then
    GOLDEN_KEEP_WORK=1
    echo "error: check failed; $OUT left unchanged, new outputs in $NEW" >&2
    exit 1
fi
for d in wire synthetic pickles logs; do
    rm -rf "${OUT:?}/$d"
    mv "$NEW/$d" "$OUT/$d"
done
echo "done in $((SECONDS - START)) s: $OUT/{wire,synthetic,pickles,logs}"
