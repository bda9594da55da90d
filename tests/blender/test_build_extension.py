"""Build the extension with scripts/build_extension.py (the bpy wheel's blender_ext.py validates and builds it),
install the zip into a temporary extension repository the way Blender does, and enable it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

REPO_ROOT = Path(__file__).resolve().parents[2]
WHEELS = REPO_ROOT / "blender_addon" / "wheels"


def test_build_validate_install_enable(fresh_scene, tmp_path):
    have_wheels = len(list(WHEELS.glob("pyzmq-*.whl"))) >= 6
    # Without the downloaded wheels (they need PyPI) build the wheel-less package; the wheel list is tested below.
    flag = "--no-download" if have_wheels else "--no-wheels"
    out = tmp_path / "dist"
    script = REPO_ROOT / "scripts" / "build_extension.py"
    result = subprocess.run([sys.executable, str(script), "--out", str(out), flag],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    zips = sorted(out.glob("tokenmocap-0.1.0*.zip"))
    want = 4 if have_wheels else 1
    assert len(zips) == want, f"expected {want} zip(s), got {[z.name for z in zips]}"
    package = next(z for z in zips if "linux" in z.name) if have_wheels else zips[0]
    with zipfile.ZipFile(package) as zf:
        names = zf.namelist()
        protocol = zf.read("bridge/protocol.py")
        manifest = zf.read("blender_manifest.toml").decode()
    assert protocol == (REPO_ROOT / "backend" / "protocol.py").read_bytes(), "the zip holds the real protocol module"
    assert not any("__pycache__" in n for n in names), "no bytecode caches in the package"
    assert 'network = "' in manifest and 'blender_version_min = "4.2.0"' in manifest
    if have_wheels:
        wheels = sorted(n for n in names if n.endswith(".whl"))
        assert any("cp311-cp311-manylinux" in w for w in wheels) and any("abi3-manylinux" in w for w in wheels), \
            f"linux package bundles pyzmq for cp311 and cp312+ (abi3, covers 3.13): {wheels}"
        assert not any("win_amd64" in w for w in wheels), f"split per platform: {wheels}"

    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name="tminst", module="tminst", custom_directory=str(repo_dir), source="USER")
    try:
        assert bpy.ops.extensions.package_install_files(filepath=str(package), repo="tminst",
                                                        enable_on_install=True) == {"FINISHED"}
        assert bpy.context.preferences.addons.get("bl_ext.tminst.tokenmocap") is not None, "installed and enabled"
        assert bpy.ops.tokenmocap.video_mocap.idname() == "TOKENMOCAP_OT_video_mocap"
    finally:
        import addon_utils

        addon_utils.disable("bl_ext.tminst.tokenmocap", default_set=True)
        repos.remove(repo)


def _build_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_extension", REPO_ROOT / "scripts" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# pyzmq 27's wheel names: cp311 per version, one stable-ABI (abi3) wheel for CPython 3.12+.
PYZMQ_WHEELS = (
    "pyzmq-27.3.0-cp311-cp311-macosx_10_15_universal2.whl",
    "pyzmq-27.3.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
    "pyzmq-27.3.0-cp311-cp311-win_amd64.whl",
    "pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl",
    "pyzmq-27.3.0-cp312-abi3-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
    "pyzmq-27.3.0-cp312-abi3-win_amd64.whl",
)


def test_wheel_selection_covers_cp311_and_cp313_on_every_platform(tmp_path):
    build = _build_script()
    for name in PYZMQ_WHEELS:
        (tmp_path / name).write_bytes(b"")
    chosen = [w.name for w in build.select_wheels(tmp_path)]
    assert chosen == sorted(PYZMQ_WHEELS), chosen
    abi3 = tmp_path / PYZMQ_WHEELS[4]
    assert build.wheel_supports_python(abi3, "3.13") and not build.wheel_supports_python(abi3, "3.11"), \
        "a cp312-abi3 wheel installs on 3.13, not on 3.11"
    cp311 = tmp_path / PYZMQ_WHEELS[1]
    assert build.wheel_supports_python(cp311, "3.11") and not build.wheel_supports_python(cp311, "3.13")
    assert build.wheel_platforms(tmp_path / PYZMQ_WHEELS[0]) == {"macos-arm64", "macos-x64"}, "universal2 = both Macs"
    (tmp_path / PYZMQ_WHEELS[5]).unlink()  # no Windows wheel for 3.12+
    with pytest.raises(FileNotFoundError, match=r"no pyzmq wheel for cp313/windows-x64; run without --no-download"):
        build.select_wheels(tmp_path)


def test_manifest_lists_the_bundled_wheels_and_platforms(tmp_path):
    import tomllib

    build = _build_script()
    wheels = [tmp_path / name for name in PYZMQ_WHEELS]
    out = tmp_path / "blender_manifest.toml"
    build.write_manifest(REPO_ROOT / "blender_addon" / "blender_manifest.toml", out, wheels)
    manifest = tomllib.loads(out.read_text())
    assert manifest["wheels"] == [f"./wheels/{n}" for n in PYZMQ_WHEELS], manifest["wheels"]
    assert manifest["platforms"] == ["linux-x64", "macos-arm64", "macos-x64", "windows-x64"], manifest["platforms"]
    assert "network" in manifest["permissions"] and manifest["id"] == "tokenmocap", manifest
    with pytest.raises(ValueError, match="remove 'wheels'/'platforms'"):
        build.write_manifest(out, tmp_path / "again.toml", wheels)
