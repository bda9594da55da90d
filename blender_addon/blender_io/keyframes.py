"""The add-on's one keyframe writer: layered actions (Blender 4.4+/5.0), bulk ``foreach_set``.

Blender 5.0 removed ``Action.fcurves``; keys live in ``action.layers[i].strips[j].channelbag(slot)``. Every
F-curve here is filled with ``keyframe_points.add(n)`` and one ``foreach_set('co', flat float32)`` call, and the
interpolation is set in bulk too; nothing loops over ``keyframe_insert``.

Blender 4.2/4.3 (the manifest's minimum) predate layered actions: there the same writer puts the F-curves on
``action.fcurves`` (``LAYERED_ACTIONS`` is False). Code that reads keys back goes through ``fcurves_of`` (an
object's assigned action) or ``action_fcurves`` (every F-curve of an action), never ``action.layers`` directly.
``scripts/test.sh`` runs the Blender tests under bpy 5.0 (``.venv-blender``) and bpy 4.2 (``.venv-blender42``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bpy
import numpy as np

__all__ = [
    "CurveKeys", "write_action", "add_keys", "channelbag_of", "fcurves_of", "action_fcurves", "LAYERED_ACTIONS"
]

LAYERED_ACTIONS = "layers" in bpy.types.Action.bl_rna.properties  # Blender 4.4+


@dataclass(frozen=True)
class CurveKeys:
    """Keys for one animated property (all of its array indices)."""

    data_path: str  # e.g. 'pose.bones["pelvis"].rotation_quaternion'
    frames: np.ndarray  # (N,) frame numbers
    values: np.ndarray  # (N, K) one column per array index (4 for a quaternion, 3 for a location)
    group: str = ""  # F-curve group shown in the editors (the bone name)


def _interpolation_value(name: str) -> int:
    items = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items
    if name not in items:
        raise ValueError(f"interpolation: expected one of {list(items.keys())}, got {name!r}")
    return items[name].value


def _fill_curve(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray, interpolation: int) -> None:
    n = frames.shape[0]
    start = len(fcurve.keyframe_points)
    if start:
        # Merging into an existing curve: read it back and write the union in one go.
        old = np.empty(start * 2, dtype=np.float32)
        fcurve.keyframe_points.foreach_get("co", old)
        old = old.reshape(-1, 2)
        keep = ~np.isin(old[:, 0], frames.astype(np.float32))
        merged = np.concatenate([old[keep], np.stack([frames, values], axis=1).astype(np.float32)])
        merged = merged[np.argsort(merged[:, 0], kind="stable")]
        fcurve.keyframe_points.clear()
        frames, values, n = merged[:, 0], merged[:, 1], merged.shape[0]
    fcurve.keyframe_points.add(n)
    co = np.empty((n, 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    fcurve.keyframe_points.foreach_set("co", co.ravel())
    fcurve.keyframe_points.foreach_set("interpolation", np.full(n, interpolation, dtype=np.int32))
    fcurve.update()


def add_keys(
    channelbag: bpy.types.ActionChannelbag, curves: Sequence[CurveKeys], interpolation: str = "LINEAR"
) -> None:
    """Write (or merge) keys into a slot's channelbag.

    Args:
        channelbag: ``strip.channelbag(slot, ensure=True)`` of the action.
        curves: the properties to key; existing keys at the same frames are replaced.
        interpolation: Blender interpolation name for the new keys ('LINEAR', 'BEZIER', 'CONSTANT', ...).
    """
    interp = _interpolation_value(interpolation)
    for curve in curves:
        frames = np.asarray(curve.frames, dtype=np.float64)
        values = np.asarray(curve.values, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != frames.shape[0]:
            raise ValueError(
                f"{curve.data_path}: expected values of shape ({frames.shape[0]}, K) to match the frames, "
                f"got {values.shape}"
            )
        for index in range(values.shape[1]):
            fcurve = channelbag.fcurves.find(curve.data_path, index=index)
            if fcurve is None and LAYERED_ACTIONS:
                fcurve = channelbag.fcurves.new(curve.data_path, index=index, group_name=curve.group)
            elif fcurve is None:  # Blender < 4.4: the action itself holds the F-curves
                fcurve = channelbag.fcurves.new(curve.data_path, index=index, action_group=curve.group)
            _fill_curve(fcurve, frames, values[:, index], interp)


def write_action(
    obj: bpy.types.Object, action_name: str, curves: Sequence[CurveKeys], interpolation: str = "LINEAR"
) -> bpy.types.Action:
    """Create a new layered action holding ``curves`` and assign it (with its slot) to ``obj``.

    Args:
        obj: the object to animate (an armature for a character).
        action_name: the new action's name (Blender appends .001 if taken).
        curves: the keys to write.
        interpolation: interpolation of every key.
    Returns:
        The new action; ``obj.animation_data.action`` is it and ``action_slot`` its only slot.
    """
    action = bpy.data.actions.new(action_name)
    anim = obj.animation_data or obj.animation_data_create()
    if not LAYERED_ACTIONS:
        add_keys(action, curves, interpolation)
        anim.action = action
        return action
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    strip = action.layers.new("Layer").strips.new(type="KEYFRAME")
    add_keys(strip.channelbag(slot, ensure=True), curves, interpolation)
    anim.action = action
    anim.action_slot = slot
    return action


def channelbag_of(obj: bpy.types.Object, ensure: bool = True) -> bpy.types.ActionChannelbag:
    """The channelbag of ``obj``'s assigned action and slot (first layer, first strip); the action itself
    before Blender 4.4. Both hold the keys in ``.fcurves``, which is what ``add_keys`` writes to.

    Args:
        obj: an object with an assigned action.
        ensure: create the slot's channelbag when the strip has none yet (for writing); when False a slot without
            keys raises instead (for reading).
    """
    anim = obj.animation_data
    if anim is None or anim.action is None:
        raise ValueError(f"{obj.name}: has no action assigned; run Video mocap or Reconstruct first")
    action = anim.action
    if not LAYERED_ACTIONS:
        return action
    if anim.action_slot is None:
        raise ValueError(
            f"{obj.name}: its action {action.name!r} has no slot assigned; assign one in the Action editor"
        )
    if not action.layers or not action.layers[0].strips:
        raise ValueError(f"action {action.name!r}: expected a layered action with one keyframe strip")
    bag = action.layers[0].strips[0].channelbag(anim.action_slot, ensure=ensure)
    if bag is None:
        raise ValueError(
            f"{obj.name}: its action {action.name!r} has no keys for slot {anim.action_slot.identifier!r}"
        )
    return bag


def fcurves_of(obj: bpy.types.Object) -> bpy.types.bpy_prop_collection:
    """The F-curves animating ``obj``: its assigned slot's channelbag F-curves (Blender 4.4+) or the action's own
    ``fcurves`` (4.2/4.3). Supports ``find(data_path, index=i)``, ``len`` and iteration on every version."""
    return channelbag_of(obj, ensure=False).fcurves


def action_fcurves(action: bpy.types.Action) -> list[bpy.types.FCurve]:
    """Every F-curve of ``action``, assigned or not: those of all layers, keyframe strips and slots' channelbags
    (Blender 4.4+) or ``action.fcurves`` (4.2/4.3)."""
    if not LAYERED_ACTIONS:
        return list(action.fcurves)
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves]
