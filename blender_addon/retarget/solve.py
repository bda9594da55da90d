"""Rest-pose-aware retargeting maths (bpy-free): source world pose → target pose-bone basis keys.

Frames and symbols (all matrices act on column vectors):

- ``W`` is an armature object's world matrix, ``B_b`` a bone's rest ``matrix_local`` (armature space) and
  ``P_b`` its posed ``pose_bone.matrix``; Blender chains them as ``P_b = P_parent · B_parent⁻¹ · B_b · basis_b``.
- A source bone's *world delta from rest* is ``D_s(t) = R_s(t) · R_s,rest⁻¹`` (world rotations), which does not
  depend on how the bone is rolled.
- A target bone mapped to source bone ``s`` gets the world rotation ``G_b(t) = D_s(t) · A_b · R_b,rest``. The
  *rest alignment* ``A_b`` rotates the target's rest limb directions onto the source's (for T-pose sources and
  A-pose targets this lifts the arms), computed from the directions towards the mapped children's heads: one
  child gives the minimal (swing) rotation, several give the best-fit rotation (Kabsch), a leaf inherits its
  parent's alignment. Because ``A_b`` and ``R_b,rest`` only enter through their product, any target roll
  gives the same limb directions; twist about the limb is carried over as twist about the target limb.
- Chains with different bone counts (SMPL ``spine1..spine3`` → UE5 ``spine_01..spine_05``) are spread by arc
  length: target bone ``j`` covers the fraction ``[b_j, b_j+1]`` of its chain and points along the chord of the
  posed source polyline between the same fractions; its twist is the source deltas slerped at its midpoint.
- Root motion: the hips bone's world head follows ``h_t,rest + k · (h_s(t) − h_s,rest)`` with
  ``k = target leg length / source leg length`` (hip → knee → ankle, world units), or a variant per
  :data:`ROOT_MOTION_MODES`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.rotations import make_quaternions_continuous, matrix_to_quaternion, quaternion_slerp, quaternion_to_matrix
from .bone_map import BoneMap, BoneMapError

__all__ = [
    "ROOT_MOTION_MODES",
    "RetargetPlan",
    "RetargetResult",
    "RetargetSettings",
    "RigRest",
    "leg_length",
    "plan_retarget",
    "posed_matrices",
    "solve_frames",
    "swing_matrix",
]

# REST: all translation on the hips bone, relative to the rest pose. START: horizontal travel relative to the
# first frame (the character starts where it stands), vertical relative to rest. IN_PLACE: vertical only.
# ROOT_BONE: horizontal travel on the map's ground-level ``root_bone`` (engine root motion), vertical on the hips.
# NONE: no location keys.
ROOT_MOTION_MODES = ("REST", "START", "IN_PLACE", "ROOT_BONE", "NONE")
_EPS = 1e-9


@dataclass(frozen=True)
class RigRest:
    """Rest data of one armature, read once (``foreach_get``) so the maths never touches bpy.

    Bone order is the armature's; ``parents`` index into it.
    """

    names: tuple[str, ...]  # (B,) bone names
    parents: np.ndarray  # (B,) int64, -1 for roots
    rest_local: np.ndarray  # (B, 4, 4) float64 ``bone.matrix_local`` (armature space)
    tails: np.ndarray  # (B, 3) float64 ``bone.tail_local`` (armature space)
    object_world: np.ndarray  # (4, 4) float64 object ``matrix_world`` at the time of the retarget
    inherit_rotation: np.ndarray  # (B,) bool ``bone.use_inherit_rotation``
    connected: np.ndarray  # (B,) bool ``bone.use_connect`` (a connected bone ignores its location)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def heads_world(self) -> np.ndarray:
        """(B, 3) rest heads in world space."""
        return _transform_points(self.object_world, self.rest_local[:, :3, 3])

    def tails_world(self) -> np.ndarray:
        """(B, 3) rest tails in world space."""
        return _transform_points(self.object_world, self.tails)

    def rest_rotations_world(self) -> np.ndarray:
        """(B, 3, 3) rest bone rotations in world space (object scale removed)."""
        return _object_rotation(self.object_world) @ _orthonormal(self.rest_local[:, :3, :3])


@dataclass(frozen=True)
class RetargetSettings:
    """Options of one retarget."""

    root_motion: str = "REST"  # one of ROOT_MOTION_MODES
    root_scale: float | None = None  # world-units scale of root motion; None = target/source leg length


@dataclass(frozen=True)
class _Single:
    target: int  # target bone index
    source: int  # source bone index
    align: np.ndarray  # (3, 3) world rest alignment A_b


@dataclass(frozen=True)
class _Chain:
    targets: tuple[int, ...]  # target bone indices, root first
    sources: tuple[int, ...]  # source bone indices, parent first
    source_end: tuple[str, int]  # ("head", bone) or ("tail", bone): the source polyline's end point
    source_fractions: np.ndarray  # (n+1,) arc-length fractions of the source points at rest
    target_fractions: np.ndarray  # (m+1,) arc-length fractions of the target points at rest
    align: np.ndarray  # (m, 3, 3) per target bone: target rest direction → source rest chord
    rest_chords: np.ndarray  # (m, 3) unit source rest chord per target bone (world)


@dataclass(frozen=True)
class RetargetPlan:
    """Everything precomputed from the two rest poses and the map; :func:`solve_frames` applies it per frame."""

    source: RigRest
    target: RigRest
    singles: tuple[_Single, ...]
    chains: tuple[_Chain, ...]
    driven: np.ndarray  # (B,) bool: target bones whose rotation is keyed
    hips: int  # target bone index following the source root, -1 if the root is unmapped
    source_root: int  # source bone index of the SMPL pelvis, -1 when unmapped
    root_bone: int  # target ground root for ROOT_BONE mode, -1 otherwise
    root_scale: float  # k
    root_motion: str  # one of ROOT_MOTION_MODES

    def keyed_bones(self) -> list[int]:
        """Target bone indices that get keys, in bone order."""
        keyed = self.driven.copy()
        if self.root_bone >= 0:
            keyed[self.root_bone] = True
        return [int(i) for i in np.flatnonzero(keyed)]

    def location_keyed(self) -> list[int]:
        """Target bone indices whose location is keyed."""
        if self.root_motion == "NONE" or self.hips < 0:
            return []
        return [self.hips] + ([self.root_bone] if self.root_bone >= 0 else [])


@dataclass(frozen=True)
class RetargetResult:
    """Keys for the target's pose bones over T frames."""

    bone_names: tuple[str, ...]  # (K,) keyed target bones
    quaternions: np.ndarray  # (T, K, 4) float64 basis rotations (w, x, y, z), sign-continuous over time
    locations: np.ndarray  # (T, K, 3) float64 basis locations
    location_keyed: np.ndarray  # (K,) bool: whether ``locations`` should be keyed for each bone


def _transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def _orthonormal(m: np.ndarray) -> np.ndarray:
    """Nearest rotation to each (..., 3, 3) matrix (removes scale; polar decomposition via SVD)."""
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    det = np.linalg.det(r)
    if np.any(det < 0):
        raise ValueError("a bone or object matrix is mirrored (negative scale); apply the scale before retargeting")
    return r


def _object_rotation(world: np.ndarray) -> np.ndarray:
    lin = world[:3, :3]
    scales = np.linalg.norm(lin, axis=0)
    if np.ptp(scales) > 1e-4 * max(scales.max(), _EPS):
        raise ValueError(
            f"armature object has non-uniform scale {np.round(scales, 5).tolist()}; retargeting needs a uniform "
            "scale: apply the scale (Object > Apply > Scale) or make it uniform"
        )
    return _orthonormal(lin)


def swing_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations taking directions ``a`` onto ``b``.

    Args:
        a: (..., 3) directions (any length > 0).
        b: (..., 3) directions.
    Returns:
        (..., 3, 3) float64 rotations with ``R @ â = b̂``; for opposite directions, a half turn about an axis
        perpendicular to ``a``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    a, b = np.broadcast_arrays(a, b)
    dot = np.sum(a * b, axis=-1, keepdims=True)
    cross = np.cross(a, b)
    # Opposite directions: the half turn's axis is any perpendicular; take a × (the least aligned basis axis).
    helper = np.eye(3)[np.argmin(np.abs(a), axis=-1)]
    perp = np.cross(a, helper)
    perp = perp / np.linalg.norm(perp, axis=-1, keepdims=True)
    opposite = dot < -1.0 + 1e-9
    q = np.where(opposite, np.concatenate([np.zeros_like(dot), perp], axis=-1),
                 np.concatenate([1.0 + dot, cross], axis=-1))
    return quaternion_to_matrix(q)


def _kabsch(source_dirs: np.ndarray, target_dirs: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R minimising Σ|R t_i − s_i|² over unit directions (rows of (N, 3) arrays)."""
    h = target_dirs.T @ source_dirs
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def leg_length(heads_world: np.ndarray, legs: Sequence[Sequence[int]]) -> float:
    """Mean hip → knee → ankle length (world units) over the given legs.

    Args:
        heads_world: (B, 3) rest heads, world space.
        legs: per leg the (hip, knee, ankle) bone indices.
    """
    lengths = [np.linalg.norm(heads_world[k] - heads_world[h]) + np.linalg.norm(heads_world[a] - heads_world[k])
               for h, k, a in legs]
    return float(np.mean(lengths))


def _children(parents: np.ndarray) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(len(parents))]
    for i, p in enumerate(parents):
        if p >= 0:
            out[int(p)].append(i)
    return out


def _topological(parents: np.ndarray) -> list[int]:
    order: list[int] = []
    children = _children(parents)
    stack = [i for i, p in enumerate(parents) if p < 0][::-1]
    while stack:
        i = stack.pop()
        order.append(i)
        stack.extend(children[i][::-1])
    if len(order) != len(parents):
        raise ValueError("bone parents contain a cycle")
    return order


def _fractions(points: np.ndarray) -> np.ndarray:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=-1)
    total = seg.sum()
    if total < _EPS:
        return np.linspace(0.0, 1.0, len(points))
    return np.concatenate([[0.0], np.cumsum(seg) / total])


def _polyline_at(points: np.ndarray, fractions: np.ndarray, u: float) -> np.ndarray:
    """Point at arc fraction ``u`` of polylines (..., n+1, 3) whose rest fractions are (n+1,)."""
    i = int(np.clip(np.searchsorted(fractions, u, side="right") - 1, 0, len(fractions) - 2))
    span = fractions[i + 1] - fractions[i]
    w = 0.0 if span < _EPS else (u - fractions[i]) / span
    return (1.0 - w) * points[..., i, :] + w * points[..., i + 1, :]


def plan_retarget(source: RigRest, target: RigRest, bone_map: BoneMap, settings: RetargetSettings) -> RetargetPlan:
    """Precompute rest alignments, chain fractions and the root scale.

    Args:
        source: rest of the SMPL character's armature (smplx bone names).
        target: rest of the artist's armature.
        bone_map: a map already resolved against the target's names (:func:`resolve_bone_map`).
        settings: root-motion options.
    Returns:
        the plan. Raises :class:`BoneMapError` when a mapped joint is missing from the source armature.
    """
    if settings.root_motion not in ROOT_MOTION_MODES:
        raise ValueError(f"root_motion must be one of {ROOT_MOTION_MODES}, got {settings.root_motion!r}")
    src_index = {n: i for i, n in enumerate(source.names)}
    tgt_index = {n: i for i, n in enumerate(target.names)}
    for joint in bone_map.source_joints():
        if joint not in src_index:
            raise BoneMapError(f"{bone_map.name}: SMPL joint {joint!r} is not a bone of the source armature "
                               f"({len(source.names)} bones); pick the TokenMocap SMPL character as the source")
    for bone in bone_map.target_bones():
        if bone not in tgt_index:
            raise BoneMapError(f"{bone_map.name}: target bone {bone!r} missing; resolve the map against the target")

    s_heads = source.heads_world()
    t_heads = target.heads_world()
    s_rot = source.rest_rotations_world()
    t_rot = target.rest_rotations_world()
    s_children = _children(source.parents)

    # Where each mapped SMPL joint starts on the target (first bone of its chain, or its single bone).
    start_of: dict[int, int] = {src_index[j]: tgt_index[b] for j, b in bone_map.bones.items()}
    for chain in bone_map.chains:
        start_of[src_index[chain.source[0]]] = tgt_index[chain.target[0]]
    chain_of_source = {src_index[c.source[i]]: (c, i) for c in bone_map.chains for i in range(len(c.source))}

    def mapped_children(s: int) -> list[int]:
        return [c for c in s_children[s] if c in start_of]

    aligns: dict[int, np.ndarray] = {}  # source bone → A of its single mapping (for leaves to inherit)
    singles: list[_Single] = []
    single_source = {src_index[j]: tgt_index[b] for j, b in bone_map.bones.items()}
    for s in _topological(source.parents):
        if s not in single_source:
            if s in chain_of_source:
                aligns[s] = np.eye(3)
            continue
        b = single_source[s]
        pairs = []
        for c in mapped_children(s):
            vs = s_heads[c] - s_heads[s]
            vt = t_heads[start_of[c]] - t_heads[b]
            if np.linalg.norm(vs) > 1e-6 and np.linalg.norm(vt) > 1e-6:
                pairs.append((vs / np.linalg.norm(vs), vt / np.linalg.norm(vt)))
        if len(pairs) >= 2:
            src_dirs = np.array([p[0] for p in pairs])
            if np.linalg.matrix_rank(src_dirs, tol=1e-3) >= 2:
                align = _kabsch(src_dirs, np.array([p[1] for p in pairs]))
            else:
                align = swing_matrix(pairs[0][1], pairs[0][0])
        elif len(pairs) == 1:
            align = swing_matrix(pairs[0][1], pairs[0][0])
        else:
            parent = int(source.parents[s])
            while parent >= 0 and parent not in aligns:
                parent = int(source.parents[parent])
            align = aligns[parent] if parent >= 0 else np.eye(3)
        aligns[s] = align
        singles.append(_Single(target=b, source=s, align=align))

    chains: list[_Chain] = []
    for chain in bone_map.chains:
        sources = tuple(src_index[j] for j in chain.source)
        targets = tuple(tgt_index[b] for b in chain.target)
        last = sources[-1]
        ends = mapped_children(last)
        if ends:
            own_dir = source.tails_world()[last] - s_heads[last]
            # The chain continues into the most straight-ahead mapped child (spine3 → neck, not the collars).
            best = max(ends, key=lambda c: np.dot(own_dir, (s_heads[c] - s_heads[last]) /
                                                  max(np.linalg.norm(s_heads[c] - s_heads[last]), _EPS)))
            source_end = ("head", best)
            s_end, t_end = s_heads[best], t_heads[start_of[best]]
        else:
            source_end = ("tail", last)
            s_end, t_end = source.tails_world()[last], target.tails_world()[targets[-1]]
        s_points = np.vstack([s_heads[list(sources)], s_end])
        t_points = np.vstack([t_heads[list(targets)], t_end])
        a = _fractions(s_points)
        bfr = _fractions(t_points)
        chords, align = [], []
        for j in range(len(targets)):
            chord = _polyline_at(s_points, a, bfr[j + 1]) - _polyline_at(s_points, a, bfr[j])
            tdir = t_points[j + 1] - t_points[j]
            if np.linalg.norm(chord) < 1e-6 or np.linalg.norm(tdir) < 1e-6:
                raise BoneMapError(f"{bone_map.name}: chain {list(chain.target)}: bone {chain.target[j]!r} has "
                                   "zero length along the chain; check the chain's bone order")
            chords.append(chord / np.linalg.norm(chord))
            align.append(swing_matrix(tdir, chord))
        chains.append(_Chain(targets=targets, sources=sources, source_end=source_end, source_fractions=a,
                             target_fractions=bfr, align=np.array(align), rest_chords=np.array(chords)))

    driven = np.zeros(len(target.names), dtype=bool)
    for single in singles:
        driven[single.target] = True
    for ch in chains:
        driven[list(ch.targets)] = True

    source_root = src_index.get("pelvis", -1)
    hips = single_source.get(source_root, -1)
    if source_root in chain_of_source:
        raise BoneMapError(f"{bone_map.name}: 'pelvis' must be a one-to-one entry in 'bones', not part of a chain")
    root_motion = settings.root_motion
    root_bone = -1
    if root_motion == "ROOT_BONE":
        if bone_map.root_bone is None:
            raise BoneMapError(f"{bone_map.name}: root motion mode ROOT_BONE needs 'root_bone' in the map; "
                               "set it or use root motion REST")
        root_bone = tgt_index[bone_map.root_bone]
    root_scale = settings.root_scale
    if root_motion != "NONE" and hips >= 0:
        if target.connected[hips]:
            raise BoneMapError(f"{bone_map.name}: hips bone {target.names[hips]!r} is connected to its parent, so "
                               "it cannot move; map 'pelvis' to an unconnected bone or set root motion NONE")
        if root_scale is None:
            root_scale = _leg_scale(bone_map, src_index, tgt_index, s_heads, t_heads)
    if root_scale is not None and not (np.isfinite(root_scale) and root_scale > 0):
        raise ValueError(f"root_scale must be a positive finite number, got {root_scale}")
    return RetargetPlan(source=source, target=target, singles=tuple(singles), chains=tuple(chains), driven=driven,
                        hips=hips, source_root=source_root, root_bone=root_bone,
                        root_scale=1.0 if root_scale is None else float(root_scale), root_motion=root_motion)


def _leg_scale(bone_map: BoneMap, src_index: Mapping[str, int], tgt_index: Mapping[str, int],
               s_heads: np.ndarray, t_heads: np.ndarray) -> float:
    src_legs, tgt_legs = [], []
    for side in ("left", "right"):
        joints = [f"{side}_{j}" for j in ("hip", "knee", "ankle")]
        if all(j in bone_map.bones for j in joints):
            src_legs.append([src_index[j] for j in joints])
            tgt_legs.append([tgt_index[bone_map.bones[j]] for j in joints])
    if not src_legs:
        raise BoneMapError(f"{bone_map.name}: cannot match the root-motion scale by leg length because "
                           "hip, knee and ankle are not all mapped one-to-one on either side; map them or set "
                           "the root scale by hand")
    src_len = leg_length(s_heads, src_legs)
    tgt_len = leg_length(t_heads, tgt_legs)
    if src_len < 1e-6 or tgt_len < 1e-6:
        raise BoneMapError(f"{bone_map.name}: leg length is zero (source {src_len:.4g}, target {tgt_len:.4g}); "
                           "set the root scale by hand")
    return tgt_len / src_len


def _batched_delta_quaternions(source_world: np.ndarray, s_rot_rest: np.ndarray, s: int) -> np.ndarray:
    rot = _orthonormal(source_world[:, s, :3, :3])
    return matrix_to_quaternion(rot @ s_rot_rest[s].T)


def _source_end_points(plan: RetargetPlan, chain: _Chain, source_world: np.ndarray) -> np.ndarray:
    kind, bone = chain.source_end
    if kind == "head":
        return source_world[:, bone, :3, 3]
    # Tail: the rest tail expressed in the bone's rest frame, carried by the posed bone.
    rest = plan.source.rest_local[bone]
    tail_in_bone = np.linalg.inv(rest) @ np.append(plan.source.tails[bone], 1.0)
    # source_world already includes the object matrix, so go through armature space first.
    return (source_world[:, bone] @ tail_in_bone)[:, :3]


def _chain_rotations(plan: RetargetPlan, chain: _Chain, source_world: np.ndarray, t_rot: np.ndarray,
                     s_rot_rest: np.ndarray) -> list[np.ndarray]:
    """(T, 3, 3) world rotation of each target bone of a chain."""
    points = np.concatenate([source_world[:, list(chain.sources)][:, :, :3, 3],
                             _source_end_points(plan, chain, source_world)[:, None, :]], axis=1)
    deltas = np.stack([_batched_delta_quaternions(source_world, s_rot_rest, s) for s in chain.sources], axis=1)
    mids = 0.5 * (chain.source_fractions[:-1] + chain.source_fractions[1:])
    out = []
    for j, b in enumerate(chain.targets):
        u0, u1 = chain.target_fractions[j], chain.target_fractions[j + 1]
        um = 0.5 * (u0 + u1)
        if um <= mids[0] or len(mids) == 1:
            q = deltas[:, 0]
        elif um >= mids[-1]:
            q = deltas[:, -1]
        else:
            i = int(np.searchsorted(mids, um, side="right") - 1)
            q = quaternion_slerp(deltas[:, i], deltas[:, i + 1], (um - mids[i]) / (mids[i + 1] - mids[i]))
        delta = quaternion_to_matrix(q)
        chord_now = _polyline_at(points, chain.source_fractions, u1) - _polyline_at(points, chain.source_fractions,
                                                                                    u0)
        carried = delta @ chain.rest_chords[j]
        correction = swing_matrix(carried, chord_now)
        out.append(correction @ delta @ chain.align[j] @ t_rot[b])
    return out


def posed_matrices(target: RigRest, basis: np.ndarray) -> np.ndarray:
    """Blender's pose chain: armature-space ``pose_bone.matrix`` from basis matrices.

    Args:
        target: the rig.
        basis: (T, B, 4, 4) ``matrix_basis`` per frame and bone.
    Returns:
        (T, B, 4, 4) armature-space posed matrices.
    """
    posed = np.empty_like(basis)
    for b in _topological(target.parents):
        p = int(target.parents[b])
        posed[:, b] = _pre_matrix(target, posed, b, p) @ basis[:, b]
    return posed


def _pre_matrix(target: RigRest, posed: np.ndarray, b: int, p: int) -> np.ndarray:
    rest = target.rest_local
    if p < 0:
        return np.broadcast_to(rest[b], posed[:, b].shape).copy()
    pre = posed[:, p] @ np.linalg.inv(rest[p]) @ rest[b]
    if not target.inherit_rotation[b]:
        # Blender keeps the rest orientation (armature space) for bones that do not inherit rotation.
        pre[:, :3, :3] = rest[b, :3, :3]
    return pre


def solve_frames(plan: RetargetPlan, source_world: np.ndarray, target_basis: np.ndarray,
                 source_root_start: np.ndarray | None = None,
                 previous_quaternions: np.ndarray | None = None) -> RetargetResult:
    """Retarget a block of frames.

    Args:
        plan: from :func:`plan_retarget`.
        source_world: (T, S, 4, 4) world matrices of the source pose bones (``W_s(t) · pose_bone.matrix``).
        target_basis: (B, 4, 4) current ``matrix_basis`` of every target bone (kept for unmapped bones and for
            the location of bones whose location is not keyed).
        source_root_start: (3,) world head of the source root at the first frame of the whole range (START mode;
            defaults to this block's first frame).
        previous_quaternions: (K, 4) last keys of the previous block, so signs stay continuous across blocks.
    Returns:
        keys for :meth:`RetargetPlan.keyed_bones`, in that order.
    """
    source_world = np.asarray(source_world, dtype=np.float64)
    n_frames = source_world.shape[0]
    target = plan.target
    if source_world.shape[1:] != (len(plan.source.names), 4, 4):
        raise ValueError(f"source_world: expected shape (T, {len(plan.source.names)}, 4, 4), "
                         f"got {source_world.shape}")
    s_rot_rest = plan.source.rest_rotations_world()
    t_rot_rest = target.rest_rotations_world()
    object_rot = _object_rotation(target.object_world)
    object_inv = np.linalg.inv(target.object_world)

    world_rot: dict[int, np.ndarray] = {}
    for single in plan.singles:
        delta = _orthonormal(source_world[:, single.source, :3, :3]) @ s_rot_rest[single.source].T
        world_rot[single.target] = delta @ single.align @ t_rot_rest[single.target]
    for chain in plan.chains:
        for b, rot in zip(chain.targets, _chain_rotations(plan, chain, source_world, t_rot_rest, s_rot_rest)):
            world_rot[b] = rot

    world_pos: dict[int, np.ndarray] = {}
    located = plan.location_keyed()
    if located:
        s_rest_head = plan.source.heads_world()[plan.source_root]
        s_head = source_world[:, plan.source_root, :3, 3]
        delta = plan.root_scale * (s_head - s_rest_head)
        if plan.root_motion == "START":
            start = s_head[0] if source_root_start is None else np.asarray(source_root_start, dtype=np.float64)
            delta[:, :2] = plan.root_scale * (s_head[:, :2] - start[:2])
        elif plan.root_motion == "IN_PLACE":
            delta[:, :2] = 0.0
        t_heads = target.heads_world()
        world_pos[plan.hips] = t_heads[plan.hips] + delta
        if plan.root_bone >= 0:
            horizontal = delta.copy()
            horizontal[:, 2] = 0.0
            world_pos[plan.root_bone] = t_heads[plan.root_bone] + horizontal

    basis = np.broadcast_to(target_basis, (n_frames,) + target_basis.shape).copy()
    posed = np.empty_like(basis)
    for b in _topological(target.parents):
        p = int(target.parents[b])
        pre = _pre_matrix(target, posed, b, p)
        if b in world_rot or b in world_pos:
            pre_lin_inv = np.linalg.inv(pre[:, :3, :3])
            if b in world_rot:
                arm_rot = object_rot.T @ world_rot[b]
                basis[:, b, :3, :3] = pre_lin_inv @ arm_rot
            if b in world_pos:
                arm_pos = _transform_points(object_inv, world_pos[b])
                basis[:, b, :3, 3] = (pre_lin_inv @ (arm_pos - pre[:, :3, 3])[..., None])[..., 0]
        posed[:, b] = pre @ basis[:, b]

    keyed = plan.keyed_bones()
    quats = matrix_to_quaternion(_orthonormal(basis[:, keyed, :3, :3]))
    if previous_quaternions is not None:
        quats = make_quaternions_continuous(np.concatenate([np.asarray(previous_quaternions)[None], quats]))[1:]
    else:
        quats = make_quaternions_continuous(quats)
    return RetargetResult(
        bone_names=tuple(target.names[b] for b in keyed),
        quaternions=quats,
        locations=basis[:, keyed][:, :, :3, 3].copy(),
        location_keyed=np.array([b in located for b in keyed], dtype=bool),
    )
