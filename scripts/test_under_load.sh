#!/usr/bin/env bash
# The whole suite with every core busy (CI's machine is shared): one `yes` per core, the README's test command,
# and the wall time at the end. Usage: bash scripts/test_under_load.sh [pytest args...]
set -uo pipefail
cd "$(dirname "$0")/.."
export MAML_DATA_DIR="${MAML_DATA_DIR:-$(cd .. && pwd)/shared/omniglot}"
cores=$(nproc)
pids=()
for _ in $(seq "$cores"); do
  yes >/dev/null &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
echo "load: ${cores} x yes (pids ${pids[*]})"
start=$(date +%s)
ruff check . && python -m pytest "$@"
rc=$?
echo "suite under load: exit ${rc} in $(( $(date +%s) - start )) s (CI allows 90 min)"
exit "$rc"
