#!/usr/bin/env bash
# Runs the whole test suite: the backend/training tests in .venv, then the Blender tests in .venv-blender (bpy 5.0)
# and again in .venv-blender42 (bpy 4.2, the extension's minimum Blender) when that venv exists.
# Prints one closing line "tests: N passed, N failed, N skipped" and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
status=0
passed=0; failed=0; skipped=0
tally() {  # parse pytest's summary line from a log
  local log=$1 p f e s
  p=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '[0-9]+ failed' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  e=$(grep -Eo '[0-9]+ errors?' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  s=$(grep -Eo '[0-9]+ skipped' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  passed=$((passed + p)); failed=$((failed + f + e)); skipped=$((skipped + s))
}
logdir=$(mktemp -d)

echo "=== backend / training tests (.venv) ==="
.venv/bin/python -m pytest tests --ignore=tests/blender -p no:cacheprovider "$@" 2>&1 | tee "$logdir/main.log"
rc=${PIPESTATUS[0]}; tally "$logdir/main.log"
[ "$rc" = 0 ] || [ "$rc" = 5 ] || status=1

if [ -d tests/blender ]; then
  echo "=== Blender tests (.venv-blender, bpy) ==="
  .venv-blender/bin/python -m pytest tests/blender -p no:cacheprovider "$@" 2>&1 | tee "$logdir/blender.log"
  rc=${PIPESTATUS[0]}; tally "$logdir/blender.log"
  [ "$rc" = 0 ] || [ "$rc" = 5 ] || status=1
  if [ -x .venv-blender42/bin/python ]; then
    echo "=== Blender tests (.venv-blender42, bpy 4.2) ==="
    .venv-blender42/bin/python -m pytest tests/blender -p no:cacheprovider "$@" 2>&1 | tee "$logdir/blender42.log"
    rc=${PIPESTATUS[0]}; tally "$logdir/blender42.log"
    [ "$rc" = 0 ] || [ "$rc" = 5 ] || status=1
  fi
fi

[ "$passed" -gt 0 ] || status=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
