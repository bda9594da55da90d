"""The add-on's bpy-free packages import without bpy and never pull in torch (DESIGN §2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_core_and_bridge_import_without_bpy_or_torch():
    code = ("import sys, blender_addon.core, blender_addon.bridge; "
            "heavy = sorted(m for m in ('torch', 'bpy', 'cv2', 'timm') if m in sys.modules); print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, f"import failed:\n{result.stderr}"
    assert result.stdout.strip() == "[]", f"expected no heavy modules imported, got {result.stdout.strip()}"
