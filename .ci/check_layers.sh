#!/usr/bin/env bash
# The dependency rule (style.md §3.2): common <- protocol <- scheduler, worker. The pure
# folders must not include asio, Python or TBB, and lower layers never include higher.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
check() {  # folder, forbidden pattern, reason
  if grep -rnE "$2" "$1" --include=*.h --include=*.cc 2>/dev/null | grep -v "^$1/comm/"; then
    echo "layering: $1 must not include $3" >&2; fail=1
  fi
}
check common '#include [<"](protocol|scheduler|worker)/' "protocol/scheduler/worker"
check protocol '#include [<"](scheduler|worker)/' "scheduler/worker"
check protocol '#include [<"](boost/asio|Python\.h|tbb/)' "asio, Python or TBB (only protocol/comm may use asio)"
check scheduler/state '#include [<"](boost/asio|Python\.h|tbb/)' "asio, Python or TBB (it is the pure state machine)"
check scheduler/coordination '#include [<"](boost/asio|Python\.h|tbb/|scheduler/(server|graph|state)/)' "asio, Python, TBB or other scheduler parts (it is pure)"
check scheduler/diagnostics '#include [<"](boost/asio|Python\.h|tbb/)' "asio, Python or TBB (pure, like state/)"
check scheduler '#include [<"]worker/' "worker/ (scheduler and worker never include each other)"
if grep -rln 'Python\.h' common --include=*.h --include=*.cc | grep -v '^common/python/'; then
  echo "layering: only common/python may include Python.h in common/" >&2; fail=1
fi
if grep -rlnE '#include [<"]Python\.h' common/python --include=*.h; then
  echo "layering: common/python's headers must not include Python.h" >&2; fail=1
fi
if grep -rln 'Python\.h' scheduler --include=*.h --include=*.cc | grep -v '^scheduler/graph/'; then
  echo "layering: only scheduler/graph may include Python.h" >&2; fail=1
fi
if grep -rln 'Python\.h' worker --include=*.h --include=*.cc | grep -v '^worker/python/'; then
  echo "layering: only worker/python may include Python.h" >&2; fail=1
fi
check worker '#include [<"]scheduler/' "scheduler/ (scheduler and worker never include each other)"
check worker/state '#include [<"](boost/asio|Python\.h|tbb/|worker/(server|python|native|store)/)' "asio, Python, TBB or the rest of the worker (it is the pure state machine)"
exit $fail
