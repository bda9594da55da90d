#!/usr/bin/env bash
# Creates the project's virtual environments from the project's own files (idempotent):
#   .venv          backend + training + tests (torch, timm, smplx, opencv, pyzmq)   pip install -e .[dev]
#   .venv-blender  Blender as a Python module (bpy 5.0.1 pins numpy<2) for the add-on's headless tests
#   .venv-lite     mediapipe 0.10.21 for the lite engine (pins numpy<2, protobuf<5); runs in its own process
# Usage: bash scripts/setup.sh [--no-blender] [--no-lite]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_blender=1; want_lite=1
for arg in "$@"; do
  case "$arg" in
    --no-blender) want_blender=0 ;;
    --no-lite) want_lite=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
pipq() { "$1"/bin/python -m pip install --disable-pip-version-check -q "${@:2}"; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv
pipq .venv -e ".[dev]"

if [ "$want_blender" = 1 ]; then
  [ -x .venv-blender/bin/python ] || "$PY" -m venv .venv-blender
  pipq .venv-blender -r requirements/blender.txt
fi
if [ "$want_lite" = 1 ] && [ -f requirements/lite.txt ]; then
  [ -x .venv-lite/bin/python ] || "$PY" -m venv .venv-lite
  pipq .venv-lite -r requirements/lite.txt
fi
echo "setup.sh: environments ready"
