"""Build a character: an SMPL armature (smplx bone names, SMPL parents) and its skinned mesh, for one shape.

The armature object keeps the identity transform so armature space equals world space (the pose maths in
``core.bone_pose`` relies on it). Bones point along the limbs (``core.skeleton``); the mesh is parented to the
armature with an Armature modifier and one vertex group per joint.

The rest pose stands on the floor: bones and mesh are ``C · J(β)`` and ``C · V`` lifted by :func:`rest_lift`, so the
lowest rest vertex is at z = 0, like an artist's rig. (SMPL's origin sits near the pelvis, so unlifted the rest
feet would be ~1.2 m under the floor: the T-pose frame of an export and every rig retargeted relative to the rest
pose would float or sink by that much.) Pose keys are relative to the rest heads, so the lift changes no posed
position.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..core import SMPL_TO_BLENDER, RestBodyData, bone_layout

__all__ = ["Character", "build_character", "find_character", "rest_lift", "rest_rotations", "CHARACTER_PROP"]

CHARACTER_PROP = "tokenmocap_character"  # custom property on the armature object: the track id, or -1


@dataclass(frozen=True)
class Character:
    """The objects of one character."""

    armature: bpy.types.Object
    mesh: bpy.types.Object


def _link(obj: bpy.types.Object, collection: bpy.types.Collection | None) -> None:
    (collection or bpy.context.scene.collection).objects.link(obj)


def rest_lift(body: RestBodyData) -> np.ndarray:
    """(3,) the offset added to the Blender rest body (``C · V``, ``C · J``) so its lowest vertex is at z = 0."""
    return np.array([0.0, 0.0, -float((body.vertices @ SMPL_TO_BLENDER.T)[:, 2].min())])


def _build_mesh(name: str, body: RestBodyData) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    verts = (body.vertices @ SMPL_TO_BLENDER.T + rest_lift(body)).astype(np.float32)
    faces = body.faces
    mesh.vertices.add(verts.shape[0])
    mesh.vertices.foreach_set("co", verts.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel().astype(np.int32))
    mesh.polygons.add(faces.shape[0])
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.update(calc_edges=True)
    if mesh.validate(verbose=False):
        raise ValueError(f"mesh {name!r}: the body_model faces are invalid (Blender had to repair them)")
    mesh.shade_smooth()
    return mesh


def _build_armature_data(name: str, body: RestBodyData, arm_obj: bpy.types.Object) -> None:
    heads, tails = bone_layout(body.joints)
    lift = rest_lift(body)
    heads, tails = heads + lift, tails + lift
    view_layer = bpy.context.view_layer
    previous_active = view_layer.objects.active
    previous_mode = previous_active.mode if previous_active is not None else "OBJECT"
    if previous_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = arm_obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = arm_obj.data.edit_bones
        for j, joint in enumerate(body.joint_names):
            bone = edit_bones.new(joint)
            bone.head = heads[j].tolist()
            bone.tail = tails[j].tolist()
            bone.roll = 0.0
        for j, joint in enumerate(body.joint_names):
            parent = int(body.parents[j])
            if parent >= 0:
                edit_bones[joint].parent = edit_bones[body.joint_names[parent]]
                edit_bones[joint].use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous_active


def build_character(
    name: str,
    body: RestBodyData,
    track_id: int = -1,
    betas: np.ndarray | None = None,
    collection: bpy.types.Collection | None = None,
) -> Character:
    """Create the armature ``name`` and the skinned mesh ``name + "_body"`` in the scene.

    Args:
        name: object name of the armature (e.g. "TM_track_3"); Blender appends .001 if taken.
        body: the rest body for the character's betas.
        track_id: the video track id (or the person index in an image), stored on the armature.
        betas: (B,) the shape ``body`` was made for, stored on the armature for reference.
        collection: where to link the objects; the scene's master collection by default.
    """
    arm_data = bpy.data.armatures.new(name)
    arm_obj = bpy.data.objects.new(name, arm_data)
    arm_obj[CHARACTER_PROP] = int(track_id)
    if betas is not None:
        arm_obj["tokenmocap_betas"] = [float(v) for v in np.asarray(betas).ravel()]
    _link(arm_obj, collection)
    _build_armature_data(name, body, arm_obj)
    for pose_bone in arm_obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"

    mesh_obj = bpy.data.objects.new(name + "_body", _build_mesh(name + "_body", body))
    _link(mesh_obj, collection)
    mesh_obj.parent = arm_obj
    for j, joint in enumerate(body.joint_names):
        group = mesh_obj.vertex_groups.new(name=joint)
        column = body.weights[:, j]
        nonzero = np.flatnonzero(column > 1e-6)
        # vertex_groups.add takes one weight per call, so group vertices that share a weight.
        values, inverse = np.unique(column[nonzero].astype(np.float32), return_inverse=True)
        for k, weight in enumerate(values):
            group.add(nonzero[inverse == k].tolist(), float(weight), "REPLACE")
    modifier = mesh_obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm_obj
    return Character(arm_obj, mesh_obj)


def rest_rotations(arm_obj: bpy.types.Object, joint_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Armature-space rest rotations and heads of the named bones.

    Returns:
        (J, 3, 3) ``bone.matrix_local`` rotations and (J, 3) rest heads, float64.
    """
    bones = arm_obj.data.bones
    missing = [n for n in joint_names if n not in bones]
    if missing:
        raise ValueError(f"armature {arm_obj.name!r}: missing bones {missing[:5]}; is it a TokenMocap character?")
    mats = np.array([np.array(bones[n].matrix_local) for n in joint_names], dtype=np.float64)
    return mats[:, :3, :3], mats[:, :3, 3]


def find_character(obj: bpy.types.Object | None) -> bpy.types.Object | None:
    """The character armature of ``obj``: itself, or its parent for the body mesh; None otherwise."""
    while obj is not None:
        if obj.type == "ARMATURE" and CHARACTER_PROP in obj:
            return obj
        obj = obj.parent
    return None
