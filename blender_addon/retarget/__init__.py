"""Retargeting SMPL motion onto artists' rigs: bone maps (JSON presets and user maps), auto-mapping, and the
rest-pose-aware solver.

This package's public names are bpy-free so plain pytest covers them. The Blender side lives in
``retarget.scene`` (reads armatures, samples the source) and ``retarget.bake`` (writes the new action, preview),
which import bpy and are imported only from inside Blender.
"""

from .automap import AutoMapResult, auto_map
from .bone_map import (
    BONE_MAP_FORMAT,
    BONE_MAP_VERSION,
    BoneChain,
    BoneMap,
    BoneMapError,
    bone_map_from_dict,
    bone_map_to_dict,
    list_presets,
    load_bone_map,
    load_preset,
    resolve_bone_map,
    save_bone_map,
)
from .solve import (
    ROOT_MOTION_MODES,
    RetargetPlan,
    RetargetResult,
    RetargetSettings,
    RigRest,
    leg_length,
    plan_retarget,
    posed_matrices,
    solve_frames,
    swing_matrix,
)

__all__ = [
    "AutoMapResult",
    "BONE_MAP_FORMAT",
    "BONE_MAP_VERSION",
    "BoneChain",
    "BoneMap",
    "BoneMapError",
    "ROOT_MOTION_MODES",
    "RetargetPlan",
    "RetargetResult",
    "RetargetSettings",
    "RigRest",
    "auto_map",
    "bone_map_from_dict",
    "bone_map_to_dict",
    "leg_length",
    "list_presets",
    "load_bone_map",
    "load_preset",
    "plan_retarget",
    "posed_matrices",
    "resolve_bone_map",
    "save_bone_map",
    "solve_frames",
    "swing_matrix",
]
