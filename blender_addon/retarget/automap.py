"""Propose a bone map for an unknown rig from its bone names, hierarchy and rest positions (bpy-free).

Two stages:

1. Presets: every shipped preset is resolved against the rig (``namespace:`` prefixes tolerated). A preset whose
   bones are all present is returned with confidence 1.0 per joint; when several fit, the one driving the most
   bones wins (a UE5 rig also contains every UE4 name).
2. Otherwise names are split into tokens (``LeftUpLeg`` → left, up, leg; ``thigh_fk.L`` → thigh, fk, l), each
   bone gets a body part and a side, and SMPL joints are assigned parent-first, each only among the descendants
   of its parent's bone, so hierarchy breaks name ties. Side comes from the name, else from the rest head's X
   (characters face −Y, so +X is the character's left). A joint with no named candidate takes its parent
   bone's longest child branch. Confidence per joint: 0.9 name, part and side agree; 0.7 side from geometry;
   0.4 hierarchy only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from .bone_map import BoneChain, BoneMap, BoneMapError, list_presets, load_bone_map, resolve_bone_map

__all__ = ["AutoMapResult", "auto_map"]

CONFIDENCE_PRESET = 1.0
CONFIDENCE_NAME = 0.9
CONFIDENCE_GEOMETRY_SIDE = 0.7
CONFIDENCE_HIERARCHY = 0.4

# Helper/mechanism bones never drive anything.
_IGNORED_PREFIXES = ("mch-", "org-", "vis_", "ik_", "ik-", "wgt-")
_IGNORED_TOKENS = {"ik", "pole", "target", "twist", "roll", "end", "tip", "nub", "corrective", "correctiveroot",
                   "helper", "parent", "socket", "tweak", "bck", "fwd", "in", "out", "ctrl"}
_FINGER_TOKENS = {"thumb", "index", "middle", "ring", "pinky", "finger", "fingers", "metacarpal"}

# Part keywords (after removing side tokens). Order matters only for documentation.
_PART_TOKENS: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "pelvis", "hip", "torso", "cog"),
    "spine": ("spine", "chest", "abdomen", "back", "ribs", "waist"),
    "neck": ("neck",),
    "head": ("head",),
    "collar": ("clavicle", "collar", "collarbone", "shoulder"),
    "upper_arm": ("upperarm", "uparm", "arm", "shoulder", "humerus"),
    "forearm": ("forearm", "lowerarm", "loarm", "elbow"),
    "hand": ("hand", "wrist"),
    "thigh": ("thigh", "upleg", "upperleg", "hip", "femur"),
    "calf": ("calf", "shin", "leg", "lowerleg", "loleg", "knee"),
    "foot": ("foot", "ankle"),
    "toe": ("toe", "toes", "ball", "toebase"),
}
_JOINT_PART = {
    "pelvis": "pelvis", "neck": "neck", "head": "head",
    "collar": "collar", "shoulder": "upper_arm", "elbow": "forearm", "wrist": "hand",
    "hip": "thigh", "knee": "calf", "ankle": "foot", "foot": "toe",
}
# Bones that tell presets with identical body names apart (MetaHuman shares UE5's names).
_PRESET_FINGERPRINTS = {"metahuman_body": ("correctiveRoot", "_bck_", "_fwd_", "FACIAL_")}
_COMPOUND = {("up", "leg"): "upleg", ("upper", "leg"): "upperleg", ("upper", "arm"): "upperarm",
             ("lower", "arm"): "lowerarm", ("lower", "leg"): "lowerleg", ("fore", "arm"): "forearm",
             ("toe", "base"): "toebase", ("up", "arm"): "uparm", ("lo", "arm"): "loarm", ("lo", "leg"): "loleg"}


@dataclass(frozen=True)
class AutoMapResult:
    """The proposed map plus how it was found."""

    bone_map: BoneMap  # resolved against the rig's names; ``bone_map.confidence`` holds per-joint confidence
    preset_id: str | None  # the matching preset, or None when built from names and hierarchy
    unmapped: tuple[str, ...]  # SMPL joints with no proposal


def _tokens(name: str) -> list[str]:
    bare = name.rsplit(":", 1)[-1]
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", bare)
    spaced = re.sub(r"([A-Za-z])([0-9])", r"\1 \2", spaced)  # spine1 → spine 1
    raw = [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]
    out: list[str] = []
    i = 0
    while i < len(raw):
        pair = tuple(raw[i:i + 2])
        if pair in _COMPOUND:
            out.append(_COMPOUND[pair])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return out


def _side_of(tokens: Sequence[str]) -> str | None:
    if any(t in ("l", "left", "lft") for t in tokens):
        return "left"
    if any(t in ("r", "right", "rgt") for t in tokens):
        return "right"
    return None


def _parts_of(name: str) -> tuple[set[str], str | None]:
    """Candidate parts and side named by a bone; empty for helper, finger and mechanism bones."""
    low = name.rsplit(":", 1)[-1].lower()
    if low.startswith(_IGNORED_PREFIXES):
        return set(), None
    tokens = _tokens(name)
    if _IGNORED_TOKENS & set(tokens) or _FINGER_TOKENS & set(tokens):
        return set(), None
    tokens = [t for t in tokens if t not in ("def", "bip01", "bip001", "bip", "mixamorig", "fk", "jnt", "bn")]
    side = _side_of(tokens)
    words = [t for t in tokens if t not in ("l", "r", "left", "right", "lft", "rgt") and not t.isdigit()]
    parts = {part for part, keys in _PART_TOKENS.items() if any(w in keys for w in words)}
    return parts, side


def _descendants(parents: Sequence[int], root: int) -> set[int]:
    out: set[int] = set()
    frontier = [root]
    children: dict[int, list[int]] = {}
    for i, p in enumerate(parents):
        children.setdefault(int(p), []).append(i)
    while frontier:
        b = frontier.pop()
        for c in children.get(b, []):
            out.add(c)
            frontier.append(c)
    return out


def _depth(parents: Sequence[int], b: int) -> int:
    d = 0
    while parents[b] >= 0:
        b = int(parents[b])
        d += 1
    return d


def _preset_match(bone_names: Sequence[str], parents: Sequence[int]) -> tuple[str, BoneMap] | None:
    best: tuple[float, str, BoneMap] | None = None
    for preset_id, path in list_presets().items():
        try:
            resolved = resolve_bone_map(load_bone_map(path), bone_names, parents)
        except BoneMapError:
            continue
        rank = float(len(resolved.target_bones()))
        marks = _PRESET_FINGERPRINTS.get(preset_id)
        if marks:
            # Same names as another preset: only win the tie when the rig shows this preset's own bones.
            rank += 0.5 if any(m in n for n in bone_names for m in marks) else -0.5
        if best is None or rank > best[0]:
            best = (rank, preset_id, resolved)
    return None if best is None else (best[1], best[2])


def auto_map(bone_names: Sequence[str], parents: Sequence[int], heads_world: np.ndarray) -> AutoMapResult:
    """Propose an SMPL → rig bone map.

    Args:
        bone_names: (B,) the rig's bone names.
        parents: (B,) parent indices, -1 for roots.
        heads_world: (B, 3) rest heads in world space (Blender: Z up, the character facing −Y).
    Returns:
        the proposal; raises :class:`BoneMapError` when not even a hips bone can be found.
    """
    names = list(bone_names)
    pars = [int(p) for p in parents]
    heads = np.asarray(heads_world, dtype=np.float64)
    if heads.shape != (len(names), 3) or len(pars) != len(names):
        raise ValueError(f"auto_map: expected {len(names)} parents and heads (B, 3), got {len(pars)} parents and "
                         f"heads {heads.shape}")
    match = _preset_match(names, pars)
    if match is not None:
        preset_id, resolved = match
        conf = {j: CONFIDENCE_PRESET for j in resolved.source_joints()}
        mapped = BoneMap(name=f"{resolved.name} (auto)", bones=resolved.bones, chains=resolved.chains,
                         description=resolved.description, root_bone=resolved.root_bone, confidence=conf)
        unmapped = tuple(j for j in SMPL_JOINT_NAMES if j not in conf)
        return AutoMapResult(bone_map=mapped, preset_id=preset_id, unmapped=unmapped)

    info = [_parts_of(n) for n in names]
    center = heads[:, 0].mean() if len(heads) else 0.0
    assigned: dict[str, int] = {}
    confidence: dict[str, float] = {}
    used: set[int] = set()

    def candidates(part: str, side: str | None, within: set[int] | None) -> list[tuple[float, int]]:
        out = []
        for b, (parts, named_side) in enumerate(info):
            if part not in parts or b in used or (within is not None and b not in within):
                continue
            geo_side = None
            if abs(heads[b, 0] - center) > 1e-4:
                geo_side = "left" if heads[b, 0] > center else "right"
            if side is None:
                if named_side is not None:
                    continue
                conf = CONFIDENCE_NAME
            elif named_side == side:
                conf = CONFIDENCE_NAME
            elif named_side is None and geo_side == side:
                conf = CONFIDENCE_GEOMETRY_SIDE
            else:
                continue
            # Ambiguous words ("shoulder", "hip", "leg") score lower than specific ones.
            if len(parts) > 1:
                conf -= 0.05
            out.append((conf, b))
        # Highest confidence, then the shallowest bone (the chain start).
        out.sort(key=lambda cb: (-cb[0], _depth(pars, cb[1])))
        return out

    # Pelvis: the shallowest bone named hips/pelvis that has descendants.
    pelvis = candidates("pelvis", None, None)
    pelvis = [cb for cb in pelvis if _descendants(pars, cb[1])]
    if not pelvis:
        raise BoneMapError(
            f"auto-map: no hips/pelvis bone found among {len(names)} bones ({names[:6]}...); pick a preset or "
            "write a map by hand"
        )
    assigned["pelvis"], confidence["pelvis"] = pelvis[0][1], pelvis[0][0]
    used.add(pelvis[0][1])

    # Spine and neck chains: named bones between the hips and the head, root first.
    below_pelvis = _descendants(pars, assigned["pelvis"])
    spine = sorted((b for b, (parts, side) in enumerate(info) if "spine" in parts and side is None
                    and b in below_pelvis), key=lambda b: _depth(pars, b))
    spine = _single_branch(spine, pars)
    used.update(spine)
    neck = sorted((b for b, (parts, side) in enumerate(info) if "neck" in parts and side is None
                   and b in below_pelvis and b not in used), key=lambda b: _depth(pars, b))
    neck = _single_branch(neck, pars)
    used.update(neck)
    chains: list[BoneChain] = []
    if spine:
        chains.append(BoneChain(source=("spine1", "spine2", "spine3"), target=tuple(names[b] for b in spine)))
        for j in ("spine1", "spine2", "spine3"):
            confidence[j] = CONFIDENCE_NAME
    if neck:
        chains.append(BoneChain(source=("neck",), target=tuple(names[b] for b in neck)))
        confidence["neck"] = CONFIDENCE_NAME
    chain_end = {"spine3": spine[-1] if spine else None, "neck": neck[-1] if neck else None}

    # One-to-one joints, parent first, each searched under its nearest mapped ancestor's bone.
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        if joint in ("pelvis", "spine1", "spine2", "spine3", "neck") or j >= 22:
            continue
        side = "left" if joint.startswith("left_") else "right" if joint.startswith("right_") else None
        part = _JOINT_PART[joint.split("_", 1)[1] if side else joint]
        anchor = _mapped_anchor(j, assigned, chain_end)
        within = _descendants(pars, anchor) if anchor is not None else None
        found = candidates(part, side, within)
        if found:
            conf, b = found[0]
        elif anchor is not None and joint not in ("head",) and _JOINT_PART.get(joint.split("_", 1)[-1]) and \
                SMPL_PARENTS[j] >= 0 and SMPL_JOINT_NAMES[SMPL_PARENTS[j]] in assigned:
            b = _longest_child(anchor, pars, used)
            if b is None:
                continue
            conf = CONFIDENCE_HIERARCHY
        else:
            continue
        assigned[joint], confidence[joint] = b, conf
        used.add(b)

    bones = {j: names[b] for j, b in assigned.items()}
    mapped = BoneMap(name="Auto-mapped", bones=bones, chains=tuple(chains),
                     description="proposed by the auto-mapper from bone names and hierarchy; check low-confidence "
                                 "entries", confidence=confidence)
    unmapped = tuple(j for j in SMPL_JOINT_NAMES if j not in confidence)
    return AutoMapResult(bone_map=mapped, preset_id=None, unmapped=unmapped)


def _single_branch(bones: list[int], parents: Sequence[int]) -> list[int]:
    """Keep the longest run of bones in which each is a descendant of the previous (root first)."""
    if not bones:
        return []
    out = [bones[0]]
    for b in bones[1:]:
        if b in _descendants(parents, out[-1]):
            out.append(b)
    return out


def _mapped_anchor(j: int, assigned: dict[str, int], chain_end: dict[str, int | None]) -> int | None:
    p = SMPL_PARENTS[j]
    while p >= 0:
        name = SMPL_JOINT_NAMES[p]
        if name in assigned:
            return assigned[name]
        if chain_end.get(name) is not None:
            return chain_end[name]
        p = SMPL_PARENTS[p]
    return None


def _longest_child(bone: int, parents: Sequence[int], used: set[int]) -> int | None:
    children = [i for i, p in enumerate(parents) if p == bone and i not in used]
    if not children:
        return None
    return max(children, key=lambda c: len(_descendants(parents, c)))
