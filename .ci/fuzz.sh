#!/usr/bin/env bash
# Run every libFuzzer target for SECONDS each (default 60), growing a work corpus in
# build-fuzz/corpus/<target> from the committed seeds and the shared vectors.
# Usage: .ci/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; shift || true
targets=("$@")
((${#targets[@]})) || targets=(frame_decoder message_decoder pickle_reader decompress)
V=${DN_SHARED_DIR:-$PWD/../shared}/vectors
C=tests/fuzz/corpus
failed=0
for t in "${targets[@]}"; do
  case $t in
    frame_decoder|message_decoder) seeds=("$V/wire" "$V/synthetic" "$C/frame_decoder") ;;
    pickle_reader) seeds=("$V/pickles" "$V/pickles/extras" "$V/pickles/wire" "$C/pickle_reader") ;;
    decompress) seeds=("$C/decompress") ;;
    *) echo "unknown fuzz target $t" >&2; exit 2 ;;
  esac
  work=build-fuzz/corpus/$t
  mkdir -p "$work" build-fuzz/crashes
  echo "== fuzz $t for ${secs}s"
  log=build-fuzz/corpus/$t.log
  if build-fuzz/protocol/dn-fuzz-$t -max_total_time="$secs" -rss_limit_mb=2048 \
      -artifact_prefix=build-fuzz/crashes/$t- -print_final_stats=1 \
      "$work" "${seeds[@]}" > "$log" 2>&1; then
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" || true
  else
    grep -E "ERROR|SUMMARY|#[0-9]+ 0x" "$log" | head -20 || true
    echo "fuzz $t FAILED; crashing input in build-fuzz/crashes/" >&2
    failed=1
  fi
done
exit $failed
