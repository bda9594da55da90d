#!/usr/bin/env bash
# Creates the project's virtual environments from the project's own files (idempotent):
#   .venv          backend + training + tests (torch, timm, smplx, opencv, pyzmq)   pip install -e .[dev]
#   .venv-blender  Blender as a Python module (bpy 5.0.1 pins numpy<2) for the add-on's headless tests
#   .venv-blender42  the same with bpy 4.2.23, the manifest's minimum Blender (4.2 LTS, actions without slots)
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
# Both OpenCV wheels own cv2/: a venv made when we depended on opencv-python-headless keeps that one's files over
# contrib's (no HOG detector). Remove it and lay contrib's files down again.
if .venv/bin/python -m pip show -q opencv-python-headless >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall --disable-pip-version-check -q -y opencv-python-headless
  pipq .venv --force-reinstall --no-deps opencv-contrib-python-headless
fi

if [ "$want_blender" = 1 ]; then
  [ -x .venv-blender/bin/python ] || "$PY" -m venv .venv-blender
  pipq .venv-blender -r requirements/blender.txt
  [ -x .venv-blender42/bin/python ] || "$PY" -m venv .venv-blender42
  pipq .venv-blender42 -r requirements/blender42.txt
  # The pyzmq wheels the extension bundles (every platform, from PyPI), so the extension build and its test run
  # as a release would; the build test makes a wheel-less package when they cannot be had.
  if [ "$(ls blender_addon/wheels/pyzmq-*.whl 2>/dev/null | wc -l)" -lt 6 ]; then
    .venv-blender/bin/python scripts/build_extension.py --out build/extension >/dev/null \
      || echo "setup.sh: could not download the pyzmq wheels; the extension build test will build without them" >&2
  fi
fi
if [ "$want_lite" = 1 ] && [ -f requirements/lite.txt ]; then
  [ -x .venv-lite/bin/python ] || "$PY" -m venv .venv-lite
  pipq .venv-lite -r requirements/lite.txt
fi
# Real test material that ships offline in Debian: OpenCV's sample data (vtest.avi pedestrians, messi5.jpg,
# basketball1.png). Tests that use it skip with that reason when it cannot be installed (not root, no apt).
if [ ! -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] && command -v apt-get >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q opencv-doc >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q opencv-doc >/dev/null 2>&1; } \
    || echo "setup.sh: could not install opencv-doc; tests that need its sample videos will skip" >&2
fi
echo "setup.sh: environments ready"
