"""Bake a retarget into a NEW action on the target armature, in chunks so a modal operator can show progress
and cancel (bpy).

Non-destructive: the target's rest pose, bone rolls and existing actions are never edited (nothing enters Edit
Mode; keys go into a fresh action through ``blender_io``'s one keyframe writer). The previously assigned action
is kept alive with a fake user so unassigning it never loses it.

Usage (what the operator and the tests do)::

    job = RetargetJob(source_obj, target_obj, bone_map, BakeSettings(frame_start=1, frame_end=120))
    while not job.step():      # one chunk of frames per call; job.progress in [0, 1]
        ...
    action = job.finish()      # or job.cancel()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Quaternion

from ..blender_io import CurveKeys, restore_visibility, show_for_evaluation, write_action
from .bone_map import BoneMap, resolve_bone_map
from .preview import remove_preview
from .scene import current_basis, rig_rest, sample_source_world
from .solve import RetargetResult, RetargetSettings, plan_retarget, solve_frames

__all__ = ["BakeSettings", "RetargetJob", "retarget_action"]


@dataclass(frozen=True)
class BakeSettings:
    """Frame range and options of one bake."""

    frame_start: int  # first Blender frame sampled from the source (inclusive)
    frame_end: int  # last frame (inclusive)
    action_name: str = ""  # new action's name; "" = "<target>_<source>_retarget"
    root_motion: str = "REST"  # see solve.ROOT_MOTION_MODES
    root_scale: float | None = None  # None = leg-length ratio
    chunk_frames: int = 50  # frames sampled per step() call
    interpolation: str = "LINEAR"  # key interpolation


class RetargetJob:
    """State of one chunked bake. Holds data only; every step is a plain method a timer/modal/test calls."""

    def __init__(self, source: bpy.types.Object, target: bpy.types.Object, bone_map: BoneMap,
                 settings: BakeSettings, scene: bpy.types.Scene | None = None) -> None:
        if source is None or target is None or source == target:
            raise ValueError("retarget: pick two different armatures (the SMPL character and your rig)")
        if settings.frame_end < settings.frame_start:
            raise ValueError(f"retarget frame range: end {settings.frame_end} is before start {settings.frame_start}")
        if settings.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {settings.chunk_frames}")
        self.source = source
        self.target = target
        self.settings = settings
        self.scene = scene or bpy.context.scene
        target_rest = rig_rest(target)
        self.bone_map = resolve_bone_map(bone_map, target_rest.names, target_rest.parents.tolist(),
                                         rig_label=f"armature {target.name!r}")
        self.plan = plan_retarget(rig_rest(source), target_rest, self.bone_map,
                                  RetargetSettings(root_motion=settings.root_motion, root_scale=settings.root_scale))
        self.frames = np.arange(settings.frame_start, settings.frame_end + 1)
        self._basis = current_basis(target)
        self._frame_before = self.scene.frame_current
        self._results: list[RetargetResult] = []
        self._root_start: np.ndarray | None = None
        self._next = 0
        self.done = False
        self.cancel_requested = False  # set by the UI (Esc); the driver then calls cancel()

    @property
    def progress(self) -> float:
        """Fraction of frames solved, 0..1."""
        return self._next / len(self.frames)

    def step(self) -> bool:
        """Sample and solve the next chunk of frames; True when every frame is solved."""
        if self.done:
            return True
        chunk = self.frames[self._next:self._next + self.settings.chunk_frames]
        shown = show_for_evaluation([self.source])  # a video character hidden outside its track still poses
        try:
            world = sample_source_world(self.source, chunk, self.scene)
        finally:
            restore_visibility(shown)
            self.scene.frame_set(self._frame_before)
        if self._root_start is None and self.plan.source_root >= 0:
            self._root_start = world[0, self.plan.source_root, :3, 3].copy()
        previous = self._results[-1].quaternions[-1] if self._results else None
        self._results.append(solve_frames(self.plan, world, self._basis, source_root_start=self._root_start,
                                          previous_quaternions=previous))
        self._next += len(chunk)
        self.done = self._next >= len(self.frames)
        return self.done

    def result(self) -> RetargetResult:
        """All solved frames joined (call after :meth:`step` returned True)."""
        if not self.done:
            raise RuntimeError("RetargetJob.result() before every frame was solved; call step() until it is True")
        first = self._results[0]
        return RetargetResult(
            bone_names=first.bone_names,
            quaternions=np.concatenate([r.quaternions for r in self._results]),
            locations=np.concatenate([r.locations for r in self._results]),
            location_keyed=first.location_keyed,
        )

    def finish(self) -> bpy.types.Action:
        """Write the new action and assign it to the target (runs any remaining steps first).

        A live preview on the target (constraints and helper empties) is removed first.
        """
        while not self.step():
            pass
        remove_preview(self.target)
        result = self.result()
        name = self.settings.action_name or f"{self.target.name}_{self.source.name}_retarget"
        curves = _curves(self.target, result, self.frames.astype(np.float64))
        anim = self.target.animation_data
        if anim is not None and anim.action is not None:
            # Keep the artist's action alive after it is unassigned; its keys are not touched.
            anim.action.use_fake_user = True
        action = write_action(self.target, name, curves, self.settings.interpolation)
        action["tokenmocap_retarget_source"] = self.source.name
        action["tokenmocap_retarget_map"] = self.bone_map.name
        return action

    def verify(self, frames: Sequence[int]) -> tuple[float, str]:
        """Largest world-space limb direction error of the baked target, evaluated by Blender at ``frames``.

        A limb is a one-to-one bone and the bone of its SMPL child (``upperarm_l`` → ``lowerarm_l``); the check
        catches what the solver cannot model, such as constraints on unmapped parent bones of the rig. The target
        limb is expected along its own rest direction carried by the source bone's world delta and the plan's rest
        alignment, so a rig whose rest proportions differ (hips further apart than SMPL's, a higher spine) is not
        reported: with several mapped children one rotation cannot align every rest direction.

        Returns:
            (error in degrees, "target bone ← SMPL joint" where it is largest); (0.0, "") with no limbs.
        """
        source_rest = self.plan.source
        start_of = dict(self.bone_map.bones)
        for chain in self.bone_map.chains:
            start_of[chain.source[0]] = chain.target[0]
        limbs = []
        for joint, bone in self.bone_map.bones.items():
            s = source_rest.index(joint)
            for c in np.flatnonzero(source_rest.parents == s):
                child = source_rest.names[c]
                if child in start_of:
                    limbs.append((joint, bone, child, start_of[child]))
        if not limbs:
            return 0.0, ""
        frame_before = self.scene.frame_current
        world = sample_source_world(self.source, frames, self.scene)
        target_world = sample_source_world(self.target, frames, self.scene)
        self.scene.frame_set(frame_before)
        t_index = {n: i for i, n in enumerate(self.plan.target.names)}
        align = {single.target: single.align for single in self.plan.singles}
        s_rot_rest = source_rest.rest_rotations_world()
        t_heads_rest = self.plan.target.heads_world()
        worst, where = 0.0, ""
        for joint, bone, child, child_bone in limbs:
            s, b = source_rest.index(joint), t_index[bone]
            if b in align:  # the solver's model: D_s(t) · A_b · (target rest limb)
                rot = world[:, s, :3, :3] / np.linalg.norm(world[:, s, :3, :3], axis=1, keepdims=True)
                s_dir = (rot @ s_rot_rest[s].T) @ (align[b] @ (t_heads_rest[t_index[child_bone]] - t_heads_rest[b]))
            else:  # a chain's first bone: along the source limb
                s_dir = world[:, source_rest.index(child), :3, 3] - world[:, s, :3, 3]
            t_dir = target_world[:, t_index[child_bone], :3, 3] - target_world[:, b, :3, 3]
            err = np.degrees(np.arctan2(np.linalg.norm(np.cross(s_dir, t_dir), axis=-1),
                                        np.sum(s_dir * t_dir, axis=-1))).max()
            if err > worst:
                worst, where = float(err), f"{bone} ← {joint}"
        return worst, where

    def cancel(self) -> None:
        """Drop the solved frames and any live preview; the scene is left as it was (the current frame is restored
        after each step)."""
        self._results.clear()
        self.done = True
        remove_preview(self.target)


def _curves(target: bpy.types.Object, result: RetargetResult, frames: np.ndarray) -> list[CurveKeys]:
    curves = []
    for k, name in enumerate(result.bone_names):
        pose_bone = target.pose.bones[name]
        quats = result.quaternions[:, k]
        mode = pose_bone.rotation_mode
        if mode == "QUATERNION":
            curves.append(CurveKeys(f'pose.bones["{name}"].rotation_quaternion', frames, quats, group=name))
        elif mode == "AXIS_ANGLE":
            values = np.array([_axis_angle(q) for q in quats])
            curves.append(CurveKeys(f'pose.bones["{name}"].rotation_axis_angle', frames, values, group=name))
        else:
            # Euler bones keep their rotation order; 'compat' keeps neighbouring keys from jumping by 2π.
            values = np.empty((len(quats), 3))
            previous = None
            for t, q in enumerate(quats):
                euler = Quaternion(q).to_euler(mode) if previous is None else Quaternion(q).to_euler(mode, previous)
                values[t] = euler[:]
                previous = euler
            curves.append(CurveKeys(f'pose.bones["{name}"].rotation_euler', frames, values, group=name))
        if result.location_keyed[k]:
            curves.append(CurveKeys(f'pose.bones["{name}"].location', frames, result.locations[:, k], group=name))
    return curves


def _axis_angle(q: np.ndarray) -> list[float]:
    axis, angle = Quaternion(q).to_axis_angle()
    return [angle, axis[0], axis[1], axis[2]]


def retarget_action(source: bpy.types.Object, target: bpy.types.Object, bone_map: BoneMap,
                    settings: BakeSettings) -> bpy.types.Action:
    """Bake in one go (no progress): the scripting entry point."""
    return RetargetJob(source, target, bone_map, settings).finish()
