"""Live retarget preview with constraints, removed again on bake or cancel (bpy).

For a one-to-one bone the baked world rotation is ``G_b(t) = R_s(t) · O_b`` with the constant offset
``O_b = R_s,rest⁻¹ · A_b · R_b,rest`` (see ``solve``), so an empty parented to the source bone with local rotation
``O_b`` carries exactly ``G_b``; the target bone copies its world rotation (Copy Rotation, world → world). The
hips copy the location of an empty that follows the source pelvis inside a parent scaled by the leg ratio and
offset to the target's rest, which reproduces ``h_t,rest + k (h_s(t) − h_s,anchor)``.

Chains (spine, neck) are previewed with the source rotations blended at each bone's arc midpoint, without the
bake's chord correction (1-2 cm at the hands for strong spine bends); the bake is exact. ROOT_BONE root motion
previews as REST (the hips move, the ground root stays).

Everything the preview adds is named ``TM preview`` / ``TM_preview_*`` and listed on the target object under
:data:`PREVIEW_PROP`, so :func:`remove_preview` takes exactly that away. The target's rest pose, bones and
actions are never edited.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from .bone_map import BoneMap, resolve_bone_map
from .scene import rig_rest, sample_source_world
from .solve import RetargetSettings, plan_retarget

__all__ = ["PREVIEW_CONSTRAINT", "PREVIEW_PROP", "add_preview", "has_preview", "remove_preview"]

PREVIEW_CONSTRAINT = "TM preview"
PREVIEW_PROP = "tokenmocap_retarget_preview"  # on the target object: the preview collection's name


def has_preview(target: bpy.types.Object) -> bool:
    """Whether ``target`` currently shows a retarget preview."""
    return PREVIEW_PROP in target


def _empty(name: str, collection: bpy.types.Collection) -> bpy.types.Object:
    obj = bpy.data.objects.new(name, None)
    obj.empty_display_size = 0.05
    obj.empty_display_type = "ARROWS"
    collection.objects.link(obj)
    return obj


def _matrix(m: np.ndarray) -> Matrix:
    return Matrix([list(row) for row in m])


def add_preview(source: bpy.types.Object, target: bpy.types.Object, bone_map: BoneMap,
                settings: RetargetSettings, frame_start: int, scene: bpy.types.Scene | None = None) -> int:
    """Drive ``target`` live from ``source`` with constraints (replacing an earlier preview).

    Args:
        source: the SMPL character's armature.
        target: the artist's armature.
        bone_map: the map (resolved against the target here).
        settings: root-motion options, as for the bake.
        frame_start: the frame the START root-motion mode anchors to.
        scene: the scene to link the helper empties into (the context scene by default).
    Returns:
        the number of constraints added.
    """
    scene = scene or bpy.context.scene
    remove_preview(target)
    target_rest = rig_rest(target)
    resolved = resolve_bone_map(bone_map, target_rest.names, target_rest.parents.tolist(),
                                rig_label=f"armature {target.name!r}")
    source_rest = rig_rest(source)
    plan = plan_retarget(source_rest, target_rest, resolved, settings)
    collection = bpy.data.collections.new(f"TM_preview_{target.name}")
    scene.collection.children.link(collection)
    target[PREVIEW_PROP] = collection.name
    s_rot = source_rest.rest_rotations_world()
    t_rot = target_rest.rest_rotations_world()
    count = 0

    def follow(target_bone: int, source_bone: int, align: np.ndarray, influence: float = 1.0) -> None:
        nonlocal count
        offset = s_rot[source_bone].T @ align @ t_rot[target_bone]
        name = target_rest.names[target_bone]
        empty = _empty(f"TM_preview_{name}_{source_rest.names[source_bone]}", collection)
        empty.parent = source
        empty.parent_type = "BONE"
        empty.parent_bone = source_rest.names[source_bone]
        empty.matrix_parent_inverse = Matrix.Identity(4)
        basis = np.eye(4)
        basis[:3, :3] = offset
        empty.matrix_basis = _matrix(basis)
        con = target.pose.bones[name].constraints.new("COPY_ROTATION")
        con.name = PREVIEW_CONSTRAINT
        con.target = empty
        con.owner_space = "WORLD"
        con.target_space = "WORLD"
        con.mix_mode = "REPLACE"
        con.influence = influence
        count += 1

    for single in plan.singles:
        follow(single.target, single.source, single.align)
    for chain in plan.chains:
        mids = 0.5 * (chain.source_fractions[:-1] + chain.source_fractions[1:])
        for j, b in enumerate(chain.targets):
            # As the bake: the source deltas at the bone's arc midpoint, blended between the two nearest source
            # bones (a second Copy Rotation with partial influence interpolates towards the next bone).
            um = 0.5 * (chain.target_fractions[j] + chain.target_fractions[j + 1])
            i = int(np.clip(np.searchsorted(mids, um, side="right") - 1, 0, len(mids) - 1))
            follow(b, chain.sources[i], chain.align[j])
            if i + 1 < len(mids) and um > mids[i]:
                follow(b, chain.sources[i + 1], chain.align[j], influence=(um - mids[i]) / (mids[i + 1] - mids[i]))

    located = plan.location_keyed()
    if located:
        k = plan.root_scale
        anchor = source_rest.heads_world()[plan.source_root].copy()
        if plan.root_motion == "START":
            start = sample_source_world(source, [frame_start], scene)
            scene.frame_set(scene.frame_current)
            anchor[:2] = start[0, plan.source_root, :3, 3][:2]
        offset = np.eye(4)
        offset[:3, :3] *= k
        offset[:3, 3] = target_rest.heads_world()[plan.hips] - k * anchor
        scaler = _empty("TM_preview_root_space", collection)
        scaler.matrix_world = _matrix(offset)
        follower = _empty("TM_preview_root", collection)
        follower.parent = scaler
        follower.matrix_parent_inverse = Matrix.Identity(4)
        follower.location = anchor.tolist()
        copy = follower.constraints.new("COPY_LOCATION")
        copy.name = PREVIEW_CONSTRAINT
        copy.target = source
        copy.subtarget = source_rest.names[plan.source_root]
        copy.target_space = "WORLD"
        copy.owner_space = "LOCAL"
        if plan.root_motion == "IN_PLACE":
            copy.use_x = copy.use_y = False
        hips = target.pose.bones[target_rest.names[plan.hips]]
        con = hips.constraints.new("COPY_LOCATION")
        con.name = PREVIEW_CONSTRAINT
        con.target = follower
        con.owner_space = "WORLD"
        con.target_space = "WORLD"
        # Location first, then the rotation copy (constraints run top to bottom).
        hips.constraints.move(len(hips.constraints) - 1, 0)
        count += 1
    for obj in collection.objects:
        obj.hide_render = True
    return count


def remove_preview(target: bpy.types.Object) -> int:
    """Remove the preview's constraints and helper objects from ``target``; returns how many constraints."""
    removed = 0
    for pose_bone in target.pose.bones:
        for con in [c for c in pose_bone.constraints if c.name.startswith(PREVIEW_CONSTRAINT)]:
            pose_bone.constraints.remove(con)
            removed += 1
    name = target.get(PREVIEW_PROP)
    if name is not None:
        collection = bpy.data.collections.get(name)
        if collection is not None:
            for obj in list(collection.objects):
                bpy.data.objects.remove(obj)
            bpy.data.collections.remove(collection)
        del target[PREVIEW_PROP]
    return removed
