#!/usr/bin/env python
"""Time keying an SMPL character: the add-on's bulk writer vs per-key ``keyframe_insert``, in one run.

Usage (from the repository root, in the Blender venv):
    PYTHONPATH=. .venv-blender/bin/python scripts/bench_keyframes.py [--frames 10000] [--baseline-frames 300]

Both methods key the 24 pose-bone quaternions plus the pelvis location of the same armature for ``--frames``
frames. The writer (``blender_io.write_action``: layered action, ``keyframe_points.add`` + ``foreach_set``) runs
on all frames. ``keyframe_insert`` is run on the first ``--baseline-frames`` frames and extrapolated linearly to
``--frames`` (the table says so); insertion gets slower as curves grow, so the extrapolation flatters the
baseline and the reported ratio is a lower bound. Goal (issue 4): writer < 2 s and >= 50x faster.
"""

from __future__ import annotations

import argparse
import sys
import time

import bpy
import numpy as np

from blender_addon.blender_io import CurveKeys, build_character, write_action
from blender_addon.core import SMPL_JOINT_NAMES, SMPL_PARENTS, RestBodyData, make_quaternions_continuous


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


def bench_keyframe_insert(arm: bpy.types.Object, quats: np.ndarray, locs: np.ndarray) -> float:
    bones = [arm.pose.bones[n] for n in SMPL_JOINT_NAMES]
    start = time.perf_counter()
    for f in range(quats.shape[0]):
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = quats[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        bones[0].location = locs[f]
        bones[0].keyframe_insert("location", frame=f + 1)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000, help="frames to key with the writer")
    parser.add_argument("--baseline-frames", type=int, default=300, help="frames keyed with keyframe_insert")
    args = parser.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    body = _bench_body()
    quats, locs = _motion(args.frames)
    writer_arm = build_character("bench_writer", body).armature
    insert_arm = build_character("bench_insert", body).armature
    writer_s = bench_writer(writer_arm, quats, locs)
    n_base = min(args.baseline_frames, args.frames)
    insert_s = bench_keyframe_insert(insert_arm, quats[:n_base], locs[:n_base])
    insert_full_s = insert_s * args.frames / n_base
    keys = args.frames * (24 * 4 + 3)

    bag = writer_arm.animation_data.action.layers[0].strips[0].channelbag(writer_arm.animation_data.action_slot)
    fc = bag.fcurves.find('pose.bones["left_knee"].rotation_quaternion', index=2)
    co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    if len(fc.keyframe_points) != args.frames or np.abs(co[1::2] - quats[:, 4, 2]).max() > 1e-6:
        print("error: the writer's keys do not read back as written", file=sys.stderr)
        return 1

    extrap = "" if n_base == args.frames else f" (measured on {n_base} frames, extrapolated linearly)"
    print(f"Keying {args.frames} frames x 24 bones (+ pelvis location) = {keys:,} keys, "
          f"Blender {bpy.app.version_string}")
    print(f"| method | frames timed | time for {args.frames} frames (s) | keys/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(f"| blender_io.write_action (foreach_set) | {args.frames} | {writer_s:.3f} | {keys / writer_s:,.0f} | 1.0x |")
    print(f"| pose_bone.keyframe_insert per key{extrap} | {n_base} | {insert_full_s:.3f} | "
          f"{keys / insert_full_s:,.0f} | {insert_full_s / writer_s:.1f}x slower |")
    print(f"goal: writer < 2 s ({'met' if writer_s < 2 else 'NOT met'}), >= 50x faster "
          f"({'met' if insert_full_s / writer_s >= 50 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
