"""Read armatures for the retarget solver (bpy): rest data, current pose bases, sampled source poses.

Only reads; nothing here writes to ``bpy.data`` (writing goes through ``blender_io``'s keyframe writer).
Matrices come out of ``foreach_get`` as flat column-major floats, hence the transposes.
"""

from __future__ import annotations

from collections.abc import Sequence

import bpy
import numpy as np

from .solve import RigRest

__all__ = ["current_basis", "rig_rest", "sample_source_world"]


def _matrices(collection, attribute: str, count: int) -> np.ndarray:
    flat = np.empty(count * 16, dtype=np.float32)
    collection.foreach_get(attribute, flat)
    # Blender flattens matrices column by column.
    return flat.reshape(count, 4, 4).transpose(0, 2, 1).astype(np.float64)


def _check_armature(obj: bpy.types.Object, role: str) -> None:
    if obj is None or obj.type != "ARMATURE":
        found = "nothing" if obj is None else f"{obj.name!r} of type {obj.type}"
        raise ValueError(f"retarget {role}: expected an armature object, got {found}")


def rig_rest(obj: bpy.types.Object) -> RigRest:
    """Rest data of an armature object (bone order of ``obj.data.bones``)."""
    _check_armature(obj, "armature")
    if obj.mode == "EDIT":
        # Bone rest matrices are only synced from the edit bones when Edit Mode is left.
        raise ValueError(f"retarget: armature {obj.name!r} is in Edit Mode; switch it to Object or Pose Mode first")
    bones = obj.data.bones
    n = len(bones)
    names = tuple(b.name for b in bones)
    index = {name: i for i, name in enumerate(names)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in bones], dtype=np.int64)
    tails = np.empty(n * 3, dtype=np.float32)
    bones.foreach_get("tail_local", tails)
    inherit = np.empty(n, dtype=bool)
    bones.foreach_get("use_inherit_rotation", inherit)
    connected = np.empty(n, dtype=bool)
    bones.foreach_get("use_connect", connected)
    return RigRest(
        names=names,
        parents=parents,
        rest_local=_matrices(bones, "matrix_local", n),
        tails=tails.reshape(n, 3).astype(np.float64),
        object_world=np.array(obj.matrix_world, dtype=np.float64),
        inherit_rotation=inherit,
        connected=connected,
    )


def _pose_order(obj: bpy.types.Object) -> None:
    pose_names = [p.name for p in obj.pose.bones]
    bone_names = [b.name for b in obj.data.bones]
    if pose_names != bone_names:
        # Internal invariant of Blender: pose bones mirror the armature's bones one for one.
        raise RuntimeError(f"{obj.name}: pose bones and armature bones are out of step; "
                           "toggle Edit Mode once to rebuild the pose")


def current_basis(obj: bpy.types.Object) -> np.ndarray:
    """(B, 4, 4) ``pose_bone.matrix_basis`` of every bone, bone order of ``obj.data.bones``."""
    _pose_order(obj)
    return _matrices(obj.pose.bones, "matrix_basis", len(obj.pose.bones))


def sample_source_world(obj: bpy.types.Object, frames: Sequence[int], scene: bpy.types.Scene) -> np.ndarray:
    """World matrices of an armature's pose bones at each frame (moves the scene's current frame).

    Args:
        obj: the armature (the SMPL character when sampling the source).
        frames: Blender frame numbers to sample.
        scene: the scene whose frame is stepped (``frame_set`` evaluates actions, drivers and constraints).
    Returns:
        (T, S, 4, 4) float64 ``matrix_world · pose_bone.matrix``.
    """
    _check_armature(obj, "armature")
    _pose_order(obj)
    n = len(obj.pose.bones)
    out = np.empty((len(frames), n, 4, 4), dtype=np.float64)
    for k, frame in enumerate(frames):
        scene.frame_set(int(frame))
        world = np.array(obj.matrix_world, dtype=np.float64)
        out[k] = world @ _matrices(obj.pose.bones, "matrix", n)
    return out
