#!/usr/bin/env python
"""Build the Blender extension zip(s): download the pyzmq wheels, stage the add-on, validate, build.

Usage (from the repository root; any Python 3.11 with pip, normally the Blender venv):
    .venv-blender/bin/python scripts/build_extension.py [--out dist/] [--no-download] [--no-split]

Steps:
1. ``pip download pyzmq --only-binary=:all: --platform ... --python-version ...`` for CPython 3.11 (Blender
   4.2-5.0) and 3.13 (Blender 5.1+) on Linux x64, Windows x64 and macOS (arm64, x64) into ``blender_addon/wheels/``
   (git-ignored). ``--no-download`` uses the wheels already there.
2. Stage ``blender_addon/`` into ``build/extension/tokenmocap/``, copying files (so ``bridge/protocol.py``, a symlink
   to ``backend/protocol.py`` in the repository, becomes the real file), and write the manifest's ``wheels`` and
   ``platforms`` lists from the wheels found.
3. ``blender_ext.py validate`` and ``blender_ext.py build [--split-platforms]``: the extension tool shipped inside
   the ``bpy`` wheel (``bl_pkg/cli/blender_ext.py``), the same code as ``blender --command extension build``.
Prints the zips written. Exits non-zero with the tool's message when a step fails.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ADDON_DIR = REPO_ROOT / "blender_addon"
WHEELS_DIR = ADDON_DIR / "wheels"
STAGE_DIR = REPO_ROOT / "build" / "extension" / "tokenmocap"
PACKAGE = "pyzmq"
PYTHON_VERSIONS = ("3.11", "3.13")
# pip platform tags per Blender platform; pip takes the first compatible wheel it finds among them.
PLATFORM_TAGS: dict[str, tuple[str, ...]] = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64", "macosx_10_15_universal2"),
    "macos-x64": ("macosx_10_15_x86_64", "macosx_10_9_x86_64", "macosx_10_15_universal2"),
}

_log = logging.getLogger("build_extension")


def find_extension_tool() -> Path:
    """``bl_pkg/cli/blender_ext.py`` inside the installed ``bpy`` wheel (or a Blender install)."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for root in roots:
        found = sorted(root.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise FileNotFoundError(
        "blender_ext.py not found: install bpy (pip install -r requirements/blender.txt) and run this script with "
        "that Python, e.g. .venv-blender/bin/python scripts/build_extension.py"
    )


def download_wheels(dest: Path) -> None:
    """pip-download pyzmq for every (Python version, platform) pair into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for py in PYTHON_VERSIONS:
        abi = "cp" + py.replace(".", "")
        for platform, tags in PLATFORM_TAGS.items():
            cmd = [sys.executable, "-m", "pip", "download", PACKAGE, "--only-binary=:all:", "--no-deps",
                   "--python-version", py, "--implementation", "cp", "--abi", abi, "-d", str(dest), "--quiet"]
            for tag in tags:
                cmd += ["--platform", tag]
            _log.info("downloading %s for cp%s %s", PACKAGE, py, platform)
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"pip download failed for Python {py} on {platform}:\n{result.stderr.strip()}")


def wheel_platforms(wheel: Path) -> set[str]:
    """The Blender platforms a wheel file name supports."""
    name = wheel.name
    out = set()
    if "manylinux" in name and "x86_64" in name:
        out.add("linux-x64")
    if "win_amd64" in name:
        out.add("windows-x64")
    if "macosx" in name and ("arm64" in name or "universal2" in name):
        out.add("macos-arm64")
    if "macosx" in name and ("x86_64" in name or "universal2" in name):
        out.add("macos-x64")
    return out


def wheel_supports_python(wheel: Path, version: str) -> bool:
    """True when the wheel installs on CPython ``version`` ("3.13"): its own tag, or a stable-ABI (abi3) wheel
    built for that version or an older one (pyzmq ships cp312-abi3 wheels for 3.12+)."""
    parts = wheel.name[: -len(".whl")].split("-")
    if len(parts) < 5:
        return False
    py_tag, abi_tag = parts[-3], parts[-2]
    want = int(version.replace(".", ""))
    tags = [t for t in py_tag.split(".") if t.startswith("cp") and t[2:].isdigit()]
    if abi_tag == "abi3":
        return any(int(t[2:]) <= want for t in tags)
    return any(int(t[2:]) == want for t in tags)


def select_wheels(folder: Path) -> list[Path]:
    """The pyzmq wheels to bundle; raises if a (Python, platform) pair is missing."""
    wheels = sorted(folder.glob("pyzmq-*.whl"))
    missing = []
    for py in PYTHON_VERSIONS:
        for platform in PLATFORM_TAGS:
            if not any(wheel_supports_python(w, py) and platform in wheel_platforms(w) for w in wheels):
                missing.append(f"cp{py.replace('.', '')}/{platform}")
    if missing:
        raise FileNotFoundError(f"{folder}: no pyzmq wheel for {', '.join(missing)}; run without --no-download "
                                "(needs access to PyPI) or put the wheels there")
    return wheels


def write_manifest(source: Path, dest: Path, wheels: list[Path]) -> None:
    """Copy the manifest, adding ``wheels`` and ``platforms`` (before the first table)."""
    text = source.read_text(encoding="utf-8")
    if re.search(r"^\s*(wheels|platforms)\s*=", text, flags=re.MULTILINE):
        raise ValueError(f"{source}: remove 'wheels'/'platforms'; this script writes them from the wheels it bundles")
    platforms = sorted(set().union(*(wheel_platforms(w) for w in wheels))) if wheels else []
    lines = []
    if platforms:
        lines.append("platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]")
    if wheels:
        lines.append("wheels = [\n" + "".join(f'  "./wheels/{w.name}",\n' for w in wheels) + "]")
    head, sep, tail = text.partition("\n[")
    dest.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + "\n" + sep + tail, encoding="utf-8")


def stage(wheels: list[Path]) -> Path:
    """Copy the add-on (symlinks resolved) and the wheels into the staging folder."""
    if STAGE_DIR.exists():
        shutil.rmtree(STAGE_DIR)
    shutil.copytree(ADDON_DIR, STAGE_DIR, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "wheels", "blender_manifest.toml"))
    protocol = STAGE_DIR / "bridge" / "protocol.py"
    if not protocol.is_file() or protocol.is_symlink():
        raise FileNotFoundError(f"{protocol}: the wire protocol module was not copied; is backend/protocol.py there?")
    (STAGE_DIR / "wheels").mkdir()
    for w in wheels:
        shutil.copy2(w, STAGE_DIR / "wheels" / w.name)
    write_manifest(ADDON_DIR / "blender_manifest.toml", STAGE_DIR / "blender_manifest.toml", wheels)
    return STAGE_DIR


def run_tool(tool: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"blender_ext {args[0]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist", help="folder for the zip(s)")
    parser.add_argument("--no-download", action="store_true", help="use the wheels already in blender_addon/wheels")
    parser.add_argument("--no-wheels", action="store_true",
                        help="build without bundled wheels (for a Blender that already has pyzmq; not for release)")
    parser.add_argument("--no-split", action="store_true", help="one zip for all platforms instead of one each")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        tool = find_extension_tool()
        if args.no_wheels:
            wheels = []
        else:
            if not args.no_download:
                download_wheels(WHEELS_DIR)
            wheels = select_wheels(WHEELS_DIR)
        staged = stage(wheels)
        _log.info(run_tool(tool, "validate", str(staged)).strip())
        args.out.mkdir(parents=True, exist_ok=True)
        build_args = ["build", "--source-dir", str(staged), "--output-dir", str(args.out)]
        if wheels and not args.no_split:
            build_args.append("--split-platforms")
        _log.info(run_tool(tool, *build_args).strip())
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"build_extension: {e}", file=sys.stderr)
        return 1
    for z in sorted(args.out.glob("tokenmocap-*.zip")):
        print(z)
    return 0


if __name__ == "__main__":
    sys.exit(main())
