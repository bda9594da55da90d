#!/usr/bin/env python
"""Time keying an SMPL character: the add-on's bulk writer vs per-key ``keyframe_insert``, in one run.

Usage (from the repository root, in the Blender venv):
    .venv-blender/bin/python scripts/bench_keyframes.py [--frames 10000] [--baseline-frames 1000]

Both methods key the 24 pose-bone quaternions plus the pelvis location of the same armature for ``--frames``
frames. The writer (``blender_io.write_action``: layered action, ``keyframe_points.add`` + ``foreach_set``) runs
on all frames. ``keyframe_insert`` runs on the first ``--baseline-frames`` frames, timed in segments: its cost per
frame grows with the length of the curves (measured on Blender 5.0.1: ~2 ms/frame for the first 250 frames,
~10 ms/frame past 1000; the full 10,000 frames took over 11 minutes before we stopped it). The table therefore
prints the measured time and a *lower bound* for ``--frames``: the measured time plus the remaining frames at the
last segment's per-frame cost (the cost never falls as curves grow). The ratio against that bound is a lower bound
too. ``--baseline-frames 10000`` measures the baseline in full (slow). Goal (issue 4): writer < 2 s and >= 50x
faster.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without PYTHONPATH

from blender_addon.blender_io import CurveKeys, build_character, fcurves_of, write_action  # noqa: E402
from blender_addon.core import (  # noqa: E402
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    RestBodyData,
    make_quaternions_continuous,
)


def _bench_body() -> RestBodyData:
    rng = np.random.default_rng(0)
    joints = np.zeros((24, 3))
    for j in range(1, 24):
        joints[j] = joints[SMPL_PARENTS[j]] + rng.normal(scale=0.1, size=3) + [0.0, 0.05, 0.0]
    faces = np.array([[0, 1, 2]], dtype=np.int64)
    return RestBodyData(joints.copy(), faces, np.eye(24), joints, np.asarray(SMPL_PARENTS), SMPL_JOINT_NAMES)


def _motion(frames: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    q = rng.normal(size=(frames, 24, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return make_quaternions_continuous(q), rng.normal(size=(frames, 3))


def bench_writer(arm: bpy.types.Object, quats: np.ndarray, locs: np.ndarray) -> float:
    frames = np.arange(1, quats.shape[0] + 1, dtype=np.float64)
    start = time.perf_counter()
    curves = [CurveKeys(f'pose.bones["{n}"].rotation_quaternion', frames, quats[:, j], group=n)
              for j, n in enumerate(SMPL_JOINT_NAMES)]
    curves.append(CurveKeys('pose.bones["pelvis"].location', frames, locs, group="pelvis"))
    write_action(arm, "bench_writer", curves)
    return time.perf_counter() - start


def bench_keyframe_insert(arm: bpy.types.Object, quats: np.ndarray, locs: np.ndarray,
                          segment: int = 250) -> list[tuple[int, float]]:
    """Key every frame with ``keyframe_insert``; returns (frames keyed so far, seconds so far) per segment."""
    bones = [arm.pose.bones[n] for n in SMPL_JOINT_NAMES]
    marks = []
    start = time.perf_counter()
    for f in range(quats.shape[0]):
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = quats[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        bones[0].location = locs[f]
        bones[0].keyframe_insert("location", frame=f + 1)
        if (f + 1) % segment == 0 or f + 1 == quats.shape[0]:
            marks.append((f + 1, time.perf_counter() - start))
    return marks


def insert_lower_bound(marks: list[tuple[int, float]], frames: int) -> float:
    """Seconds ``keyframe_insert`` needs for ``frames``, at least: the measured time plus the frames not timed at
    the per-frame cost of the last timed segment (the cost per key does not fall as the curves grow)."""
    n, t = marks[-1]
    if n >= frames:
        return t
    n0, t0 = marks[-2] if len(marks) > 1 else (0, 0.0)
    return t + (frames - n) * (t - t0) / (n - n0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000, help="frames to key with the writer")
    parser.add_argument("--baseline-frames", type=int, default=1000,
                        help="frames keyed with keyframe_insert (the rest is bounded from below)")
    args = parser.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    body = _bench_body()
    quats, locs = _motion(args.frames)
    writer_arm = build_character("bench_writer", body).armature
    insert_arm = build_character("bench_insert", body).armature
    writer_s = bench_writer(writer_arm, quats, locs)
    n_base = min(args.baseline_frames, args.frames)
    marks = bench_keyframe_insert(insert_arm, quats[:n_base], locs[:n_base])
    insert_s = marks[-1][1]
    insert_full_s = insert_lower_bound(marks, args.frames)
    keys = args.frames * (24 * 4 + 3)

    fc = fcurves_of(writer_arm).find('pose.bones["left_knee"].rotation_quaternion', index=2)
    co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    if len(fc.keyframe_points) != args.frames or np.abs(co[1::2] - quats[:, 4, 2]).max() > 1e-6:
        print("error: the writer's keys do not read back as written", file=sys.stderr)
        return 1

    bound = n_base < args.frames
    extrap = f" (measured {insert_s:.2f} s for {n_base} frames; lower bound for {args.frames})" if bound else ""
    print(f"Keying {args.frames} frames x 24 bones (+ pelvis location) = {keys:,} keys, "
          f"Blender {bpy.app.version_string}")
    print(f"| method | frames timed | time for {args.frames} frames (s) | keys/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(f"| blender_io.write_action (foreach_set) | {args.frames} | {writer_s:.3f} | {keys / writer_s:,.0f} | 1.0x |")
    ge = ">= " if bound else ""
    print(f"| pose_bone.keyframe_insert per key{extrap} | {n_base} | {ge}{insert_full_s:.3f} | "
          f"{'<= ' if bound else ''}{keys / insert_full_s:,.0f} | {ge}{insert_full_s / writer_s:.1f}x slower |")
    print()
    print("keyframe_insert cost per frame as the curves grow:")
    print("| frames | ms per frame in this segment |")
    print("|---|---:|")
    previous = (0, 0.0)
    for n, t in marks:
        print(f"| {previous[0] + 1}-{n} | {1000 * (t - previous[1]) / (n - previous[0]):.2f} |")
        previous = (n, t)
    print(f"goal: writer < 2 s ({'met' if writer_s < 2 else 'NOT met'}), >= 50x faster "
          f"({'met' if insert_full_s / writer_s >= 50 else 'NOT met'}"
          f"{'; against the lower bound' if bound else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
