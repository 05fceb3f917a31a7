#!/usr/bin/env bash
# Check that every tracked C++ file is formatted as .clang-format says; list those that are
# not and exit 1. Read-only: it never rewrites a file. Usage: .ci/check_format.sh
# To fix: git ls-files -z '*.h' '*.cc' '*.cpp' | xargs -0 clang-format-19 -i
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned to one major version: others format some constructs differently. CLANG_FORMAT may
# name another binary of the same major version.
want_major=19
CF=${CLANG_FORMAT:-clang-format-$want_major}
if ! command -v "$CF" >/dev/null 2>&1; then
  echo "check_format: $CF not found; run .ci/bootstrap.sh (it installs Debian's" \
       "clang-format-$want_major)" >&2
  exit 2
fi
version=$("$CF" --version)
version=${version%%$'\n'*}  # its first line
if [[ ! $version =~ version\ $want_major\. ]]; then
  echo "check_format: $CF is '$version', but .clang-format is checked with" \
       "clang-format-$want_major; run .ci/bootstrap.sh" >&2
  exit 2
fi

# One clang-format per batch of 16 files, one batch per core at a time. Each batch prints its
# verdict in one write, so parallel batches never interleave: "unformatted FILE" per file, or
# "error" and clang-format's own output when it failed for another reason (bad .clang-format).
check_batch() {
  local out
  out=$("$CF" --dry-run --Werror --ferror-limit=1 "$@" 2>&1) && return 0
  local bad
  bad=$(sed -nE 's/^(.+):[0-9]+:[0-9]+: error: code should be clang-formatted.*/unformatted \1/p' \
        <<<"$out")
  if [ -n "$bad" ]; then printf '%s\n' "$bad"; else printf 'error\n%s\n' "$out"; fi
  return 0  # the verdict is in the output; a non-zero exit means the batch itself broke
}
export -f check_batch
export CF

rc=0
report=$(git ls-files -z -- '*.h' '*.cc' '*.cpp' |
         xargs -0 -r -n 16 -P "$(nproc)" bash -c 'check_batch "$@"' check_batch) || rc=$?
if ((rc != 0)); then
  echo "check_format: running $CF failed (xargs exit $rc)" >&2
  exit 2
fi
[ -z "$report" ] && exit 0

if grep -qv '^unformatted ' <<<"$report"; then
  grep -v '^unformatted ' <<<"$report" >&2
  echo "check_format: $CF failed" >&2
  exit 2
fi
files=$(sed 's/^unformatted //' <<<"$report" | sort)
echo "check_format: $(wc -l <<<"$files") file(s) not formatted as .clang-format says:" >&2
sed 's/^/  /' <<<"$files" >&2
echo "fix: $CF -i $(tr '\n' ' ' <<<"$files")" >&2
exit 1
