"""Bone maps: which SMPL joints drive which bones of an artist's rig, stored as JSON.

A map has one-to-one ``bones`` (SMPL joint name → target bone name) and ``chains`` for runs of joints whose bone
counts differ between the rigs (SMPL ``spine1..spine3`` → UE5 ``spine_01..spine_05``). Presets ship as JSON files
in ``presets/``; user maps are the same format. Everything here is bpy-free: resolving a map against a rig takes
the rig's bone names and parents as plain lists.

JSON format (``"format": "tokenmocap.bone_map"``, ``"version": 1``)::

    {"format": "tokenmocap.bone_map", "version": 1, "name": "UE5 mannequin", "description": "...",
     "bones": {"pelvis": "pelvis", "left_hip": "thigh_l", ...},
     "chains": [{"source": ["spine1", "spine2", "spine3"], "target": ["spine_01", ..., "spine_05"]}],
     "root_bone": "root"}

``root_bone`` (optional) names the ground-level root bone that receives horizontal root motion in the
``ROOT_BONE`` root-motion mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path

from ..core.joints import SMPL_JOINT_NAMES, SMPL_PARENTS

__all__ = [
    "BONE_MAP_FORMAT",
    "BONE_MAP_VERSION",
    "BoneChain",
    "BoneMap",
    "BoneMapError",
    "PRESETS_DIR",
    "bone_map_from_dict",
    "bone_map_to_dict",
    "list_presets",
    "load_bone_map",
    "load_preset",
    "resolve_bone_map",
    "save_bone_map",
]

BONE_MAP_FORMAT = "tokenmocap.bone_map"
BONE_MAP_VERSION = 1
PRESETS_DIR = Path(__file__).resolve().parent / "presets"
_KNOWN_KEYS = {"format", "version", "name", "description", "bones", "chains", "root_bone"}


class BoneMapError(ValueError):
    """A bone map that is malformed or does not fit the rig; the message names the file and the entry."""


@dataclass(frozen=True)
class BoneChain:
    """A run of SMPL joints retargeted onto a run of target bones of any length (spine, neck).

    ``source`` lists SMPL joints parent-first, each the parent of the next; ``target`` lists target bones
    root-first, each an ancestor of the next.
    """

    source: tuple[str, ...]  # SMPL joint names, parent first
    target: tuple[str, ...]  # target bone names, root first


@dataclass(frozen=True)
class BoneMap:
    """SMPL joint → target bone correspondence."""

    name: str  # shown in the UI
    bones: Mapping[str, str]  # SMPL joint name → target bone name, one-to-one
    chains: tuple[BoneChain, ...] = ()  # n-to-m runs (each SMPL joint appears in ``bones`` or one chain)
    description: str = ""  # free text
    root_bone: str | None = None  # ground-level root bone for the ROOT_BONE root-motion mode
    confidence: Mapping[str, float] = field(default_factory=dict)  # SMPL joint → 0..1 (auto-mapper only)

    def target_bones(self) -> list[str]:
        """Every target bone the map drives, in map order."""
        out = list(self.bones.values())
        for chain in self.chains:
            out.extend(chain.target)
        return out

    def source_joints(self) -> list[str]:
        """Every SMPL joint the map uses."""
        out = list(self.bones)
        for chain in self.chains:
            out.extend(chain.source)
        return out


def _where(origin: str, entry: str) -> str:
    return f"{origin}: {entry}" if entry else origin


def _check_source_joint(name: object, origin: str, entry: str) -> str:
    if not isinstance(name, str) or name not in SMPL_JOINT_NAMES:
        close = get_close_matches(str(name), SMPL_JOINT_NAMES, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BoneMapError(
            f"{_where(origin, entry)}: unknown SMPL joint {name!r}{hint}; source joints must be smplx names "
            f"such as {', '.join(SMPL_JOINT_NAMES[:4])}, ..."
        )
    return name


def _check_target_name(name: object, origin: str, entry: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BoneMapError(f"{_where(origin, entry)}: expected a non-empty bone name string, got {name!r}")
    return name


def bone_map_from_dict(data: object, origin: str = "bone map") -> BoneMap:
    """Validate a decoded JSON object and build a :class:`BoneMap`.

    Args:
        data: the decoded JSON document.
        origin: file name or label used in error messages.
    Returns:
        the map. Raises :class:`BoneMapError` naming the bad entry for anything malformed.
    """
    if not isinstance(data, dict):
        raise BoneMapError(f"{origin}: expected a JSON object at the top level, got {type(data).__name__}")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise BoneMapError(f"{origin}: unknown keys {unknown}; allowed keys are {sorted(_KNOWN_KEYS)}")
    if data.get("format") != BONE_MAP_FORMAT:
        raise BoneMapError(
            f"{origin}: 'format' must be {BONE_MAP_FORMAT!r}, got {data.get('format')!r}; "
            "this is not a TokenMocap bone map"
        )
    if data.get("version") != BONE_MAP_VERSION:
        raise BoneMapError(
            f"{origin}: 'version' must be {BONE_MAP_VERSION}, got {data.get('version')!r}; "
            "the map was written by a newer TokenMocap, update the add-on"
        )
    name = data.get("name", "")
    if not isinstance(name, str) or not name:
        raise BoneMapError(f"{origin}: 'name' must be a non-empty string, got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise BoneMapError(f"{origin}: 'description' must be a string, got {type(description).__name__}")
    raw_bones = data.get("bones", {})
    if not isinstance(raw_bones, dict):
        raise BoneMapError(f"{origin}: 'bones' must be an object {{smpl_joint: target_bone}}, got "
                           f"{type(raw_bones).__name__}")
    seen_source: dict[str, str] = {}
    seen_target: dict[str, str] = {}

    def claim(source: str, target: str, entry: str) -> None:
        if source in seen_source:
            raise BoneMapError(f"{_where(origin, entry)}: SMPL joint {source!r} is already mapped by "
                               f"{seen_source[source]}; map each joint once")
        if target in seen_target:
            raise BoneMapError(f"{_where(origin, entry)}: target bone {target!r} is already driven by "
                               f"{seen_target[target]}; a bone can follow only one joint")
        seen_source[source] = entry
        seen_target[target] = entry

    bones: dict[str, str] = {}
    for source, target in raw_bones.items():
        entry = f"bones[{source!r}]"
        _check_source_joint(source, origin, entry)
        _check_target_name(target, origin, entry)
        claim(source, target, entry)
        bones[source] = target
    raw_chains = data.get("chains", [])
    if not isinstance(raw_chains, list):
        raise BoneMapError(f"{origin}: 'chains' must be a list, got {type(raw_chains).__name__}")
    chains = []
    for index, raw in enumerate(raw_chains):
        entry = f"chains[{index}]"
        if not isinstance(raw, dict) or set(raw) != {"source", "target"}:
            raise BoneMapError(f"{_where(origin, entry)}: expected an object with exactly 'source' and 'target' "
                               f"lists, got {raw!r}")
        source, target = raw["source"], raw["target"]
        if not isinstance(source, list) or not source or not isinstance(target, list) or not target:
            raise BoneMapError(f"{_where(origin, entry)}: 'source' and 'target' must be non-empty lists")
        for k, joint in enumerate(source):
            _check_source_joint(joint, origin, f"{entry}.source[{k}]")
            if k > 0 and SMPL_PARENTS[SMPL_JOINT_NAMES.index(joint)] != SMPL_JOINT_NAMES.index(source[k - 1]):
                raise BoneMapError(
                    f"{_where(origin, entry)}.source: {joint!r} is not the child of {source[k - 1]!r}; "
                    "a chain must follow the SMPL hierarchy parent first"
                )
        for k, bone in enumerate(target):
            _check_target_name(bone, origin, f"{entry}.target[{k}]")
        for k, joint in enumerate(source):
            seen_source_entry = seen_source.get(joint)
            if seen_source_entry is not None:
                raise BoneMapError(f"{_where(origin, entry)}: SMPL joint {joint!r} is already mapped by "
                                   f"{seen_source_entry}; map each joint once")
            seen_source[joint] = entry
        for bone in target:
            if bone in seen_target:
                raise BoneMapError(f"{_where(origin, entry)}: target bone {bone!r} is already driven by "
                                   f"{seen_target[bone]}; a bone can follow only one joint")
            seen_target[bone] = entry
        chains.append(BoneChain(source=tuple(source), target=tuple(target)))
    root_bone = data.get("root_bone")
    if root_bone is not None:
        _check_target_name(root_bone, origin, "root_bone")
        if root_bone in seen_target:
            raise BoneMapError(f"{origin}: root_bone {root_bone!r} is also driven by {seen_target[root_bone]}; "
                               "the root bone must be a separate, unmapped bone")
    if not bones and not chains:
        raise BoneMapError(f"{origin}: the map is empty; add at least one entry to 'bones' or 'chains'")
    return BoneMap(name=name, bones=bones, chains=tuple(chains), description=description, root_bone=root_bone)


def bone_map_to_dict(bone_map: BoneMap) -> dict:
    """The JSON document of a map (confidences are not stored: a saved map is a decision, not a guess)."""
    out: dict = {"format": BONE_MAP_FORMAT, "version": BONE_MAP_VERSION, "name": bone_map.name}
    if bone_map.description:
        out["description"] = bone_map.description
    out["bones"] = dict(bone_map.bones)
    out["chains"] = [{"source": list(c.source), "target": list(c.target)} for c in bone_map.chains]
    if bone_map.root_bone is not None:
        out["root_bone"] = bone_map.root_bone
    return out


def load_bone_map(path: str | Path) -> BoneMap:
    """Read and validate a bone map JSON file; errors name the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"bone map {path} does not exist; pick a .json file saved by TokenMocap")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BoneMapError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    return bone_map_from_dict(data, origin=str(path))


def save_bone_map(bone_map: BoneMap, path: str | Path) -> Path:
    """Write a map as indented JSON (validated by reading it back through :func:`bone_map_from_dict`)."""
    path = Path(path)
    document = bone_map_to_dict(bone_map)
    bone_map_from_dict(document, origin=str(path))
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def list_presets() -> dict[str, Path]:
    """Preset id (file stem) → JSON path, sorted by id."""
    return {p.stem: p for p in sorted(PRESETS_DIR.glob("*.json"))}


def load_preset(preset_id: str) -> BoneMap:
    """Load a shipped preset by id (``mixamo``, ``mixamo_bare``, ``rigify_deform``, ``rigify_fk``, ...)."""
    presets = list_presets()
    if preset_id not in presets:
        raise BoneMapError(f"unknown bone-map preset {preset_id!r}; available presets: {sorted(presets)}")
    return load_bone_map(presets[preset_id])


def _strip_namespace(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def resolve_bone_map(
    bone_map: BoneMap, bone_names: Sequence[str], parents: Sequence[int], rig_label: str = "target armature"
) -> BoneMap:
    """Match a map's bone names to a rig's actual names and check the chains follow its hierarchy.

    Exact names win; otherwise a name matches when it is equal after dropping any ``namespace:`` prefix
    (``mixamorig:Hips``, ``mixamorig1:Hips`` and ``Hips`` are the same bone), as long as that is unambiguous.

    Args:
        bone_map: the map as written.
        bone_names: (B,) the rig's bone names.
        parents: (B,) parent index of each bone, -1 for roots.
        rig_label: the rig's name for error messages.
    Returns:
        the map with the rig's exact bone names. Raises :class:`BoneMapError` naming the missing entry.
    """
    index = {n: i for i, n in enumerate(bone_names)}
    by_bare: dict[str, list[str]] = {}
    for n in bone_names:
        by_bare.setdefault(_strip_namespace(n), []).append(n)

    def find(name: str, entry: str) -> str:
        if name in index:
            return name
        candidates = by_bare.get(_strip_namespace(name), [])
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise BoneMapError(f"{bone_map.name}: {entry}: bone {name!r} matches several bones of {rig_label} "
                               f"({candidates}); write the exact name in the map")
        close = get_close_matches(name, list(bone_names), n=3)
        hint = f"; closest names: {', '.join(close)}" if close else ""
        raise BoneMapError(
            f"{bone_map.name}: {entry}: bone {name!r} not found in {rig_label} ({len(bone_names)} bones){hint}. "
            "Pick another preset, run auto-map, or edit the map"
        )

    def is_ancestor(ancestor: int, bone: int) -> bool:
        p = parents[bone]
        while p >= 0:
            if p == ancestor:
                return True
            p = parents[p]
        return False

    bones = {src: find(tgt, f"bones[{src!r}]") for src, tgt in bone_map.bones.items()}
    chains = []
    for k, chain in enumerate(bone_map.chains):
        target = tuple(find(b, f"chains[{k}].target") for b in chain.target)
        for a, b in zip(target[:-1], target[1:]):
            if not is_ancestor(index[a], index[b]):
                raise BoneMapError(f"{bone_map.name}: chains[{k}].target: {b!r} is not below {a!r} in "
                                   f"{rig_label}; list chain bones root first along one branch")
        chains.append(BoneChain(source=chain.source, target=target))
    root_bone = None if bone_map.root_bone is None else find(bone_map.root_bone, "root_bone")
    return BoneMap(name=bone_map.name, bones=bones, chains=tuple(chains), description=bone_map.description,
                   root_bone=root_bone, confidence=dict(bone_map.confidence))
