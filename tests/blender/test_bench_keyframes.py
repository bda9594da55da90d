"""scripts/bench_keyframes.py runs, reads the writer's keys back and reports the keyframe_insert baseline honestly
(measured frames, lower bound for the rest, cost per segment). Small sizes: the numbers themselves are the
script's business, not a timed assert."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_keyframes.py"


def test_bench_prints_both_methods_and_a_lower_bound(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--frames", "600", "--baseline-frames", "300"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)  # not the repo root
    assert result.returncode == 0, f"bench failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    out = result.stdout
    assert "Keying 600 frames x 24 bones (+ pelvis location) = 59,400 keys" in out, out
    writer = re.search(r"\| blender_io\.write_action \(foreach_set\) \| 600 \| ([\d.]+) \|", out)
    assert writer and float(writer.group(1)) > 0, f"writer row missing:\n{out}"
    insert = re.search(r"measured ([\d.]+) s for 300 frames; lower bound for 600\) \| 300 \| >= ([\d.]+) \|", out)
    assert insert, f"keyframe_insert row must say what was measured and that the rest is a bound:\n{out}"
    measured, bound = float(insert.group(1)), float(insert.group(2))
    assert bound >= 2 * measured * 0.999, f"600 frames cost at least twice 300 frames: {bound} vs {measured}"
    assert "| 1-250 |" in out and "| 251-300 |" in out, f"per-segment cost table missing:\n{out}"
    assert re.search(r"goal: writer < 2 s \((met|NOT met)\), >= 50x faster \((met|NOT met); against the lower bound",
                     out), out


def test_lower_bound_uses_the_last_segment_cost():
    spec = importlib.util.spec_from_file_location("bench_keyframes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    marks = [(250, 1.0), (500, 3.0)]  # 4 ms/frame, then 8 ms/frame
    assert module.insert_lower_bound(marks, 1000) == pytest.approx(3.0 + 500 * 0.008)
    assert module.insert_lower_bound(marks, 500) == 3.0, "fully measured: no extrapolation"
    assert module.insert_lower_bound([(100, 0.5)], 400) == pytest.approx(2.0), "one segment: linear from zero"
