"""Runs an engine over a body dataset and scores it the way the HMR literature does.

Both the prediction and the ground truth go through SMPL, joints are regressed from each mesh with a
:class:`JointSet`, both skeletons are aligned at the pelvis (the mid-point of the hips) and MPJPE, PA-MPJPE and MVE
are reported in millimetres. The ground truth uses the gendered SMPL model of the sample, the prediction the neutral
one. Two joint sets:

- ``lsp14``: the 14 LSP joints of the 17 regressed by the H36M regressor (``J_regressor_h36m.npy``, (17, 6890), from
  the SPIN / 4D-Humans data download), the SPIN / HMR 2.0 convention;
- ``smpl24``: the 24 SMPL joints of the neutral model's ``J_regressor`` applied to both meshes, pelvis at the
  mid-point of SMPL joints 1 and 2: what TokenHMR's ``eval.py`` / ``pose_utils.Evaluator`` does for EMDB.

Video smoothness (VIBE / WHAM's "Accel"): for every run of consecutive frames of one person (no gap, no missed
frame) of at least three frames, the acceleration error
``‖(p[t-1] − 2p[t] + p[t+1]) − (g[t-1] − 2g[t] + g[t+1])‖`` of the pelvis-aligned joints is averaged over
all joints and all interior frames of all runs (mm/frame²).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from backend.results import PersonResult

from .datasets import BodySample
from .pose_metrics import LSP14_LEFT_HIP, LSP14_RIGHT_HIP, acceleration_error, align_by_pelvis, mpjpe, pa_mpjpe
from .protocols import CROP_PROTOCOLS, CropProtocol, apply_crop_protocol

__all__ = ["H36M_TO_LSP14", "LSP14_NAMES", "SMPL24_NAMES", "BodyEvalReport", "JointSet", "consecutive_runs",
           "evaluate_bodies", "lsp14_from_vertices", "lsp14_joint_set", "smpl24_joint_set"]

logger = logging.getLogger(__name__)

# Indices of the 14 LSP joints in the 17 H36M joints (the SPIN / HMR 2.0 evaluation convention).
H36M_TO_LSP14 = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
LSP14_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
               "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top")

SMPL24_NAMES = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
                "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
                "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                "left_hand", "right_hand")

# (gender, global_orient (3,), body_pose (69,), betas (10,)) -> vertices (V, 3)
VerticesFn = Callable[[str, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
# (image_bgr, bbox_xyxy) -> the engine's result for the person in that box, or None when it found nobody
ReconstructFn = Callable[[np.ndarray, np.ndarray], "PersonResult | None"]
# ([image_bgr], [bbox_xyxy]) -> one result (or None) per (image, box) pair: one batched forward pass
ReconstructBatchFn = Callable[[list[np.ndarray], list[np.ndarray]], "list[PersonResult | None]"]
# (sample, bbox_xyxy) -> result, for callers that read the frames themselves (the video path)
ReconstructSampleFn = Callable[[BodySample, np.ndarray], "PersonResult | None"]


def lsp14_from_vertices(vertices: np.ndarray, j_regressor_h36m: np.ndarray) -> np.ndarray:
    """The 14 LSP joints of a mesh.

    Args:
        vertices: (N, V, 3) mesh vertices.
        j_regressor_h36m: (17, V) H36M joint regressor.
    Returns:
        (N, 14, 3) joints.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    reg = np.asarray(j_regressor_h36m, dtype=np.float64)
    if reg.ndim != 2 or reg.shape[0] != 17 or reg.shape[1] != vertices.shape[1]:
        raise ValueError(f"H36M regressor must be (17, {vertices.shape[1]}) for this mesh; got {reg.shape}")
    # joints[n, j] = Σ_v reg[j, v] · vertices[n, v]
    joints = np.einsum("jv,nvc->njc", reg, vertices)
    return joints[:, list(H36M_TO_LSP14)]


@dataclass(frozen=True)
class JointSet:
    """Which joints the 3D errors are computed on.

    Attributes:
        name: label used in reports ("lsp14", "smpl24").
        regressor: (R, V) joint regressor applied to the mesh vertices.
        indices: rows of the regressed joints that are kept, in report order.
        names: one name per kept joint.
        hips: positions (in the kept joints) of the two hips; their mid-point is the pelvis both skeletons are
            aligned at.
    """

    name: str
    regressor: np.ndarray
    indices: tuple[int, ...]
    names: tuple[str, ...]
    hips: tuple[int, int]

    def __post_init__(self) -> None:
        reg = np.asarray(self.regressor)
        if reg.ndim != 2 or max(self.indices) >= reg.shape[0]:
            raise ValueError(f"{self.name}: the regressor must be (R, V) with R > {max(self.indices)}; got {reg.shape}")
        if len(self.names) != len(self.indices) or max(self.hips) >= len(self.indices):
            raise ValueError(f"{self.name}: names must match indices and hips must index the kept joints")

    def joints(self, vertices: np.ndarray) -> np.ndarray:
        """(N, V, 3) vertices -> (N, J, 3) kept joints."""
        vertices = np.asarray(vertices, dtype=np.float64)
        reg = np.asarray(self.regressor, dtype=np.float64)
        if reg.shape[1] != vertices.shape[1]:
            raise ValueError(f"{self.name}: regressor is {reg.shape}, the mesh has {vertices.shape[1]} vertices")
        return np.einsum("jv,nvc->njc", reg, vertices)[:, list(self.indices)]


def lsp14_joint_set(j_regressor_h36m: np.ndarray) -> JointSet:
    """The 14 LSP joints of the H36M regressor, aligned at the mid-point of the LSP hips (SPIN / HMR 2.0)."""
    reg = np.asarray(j_regressor_h36m, dtype=np.float64)
    if reg.ndim != 2 or reg.shape[0] != 17:
        raise ValueError(f"H36M regressor must be (17, V); got {reg.shape}")
    return JointSet("lsp14", reg, H36M_TO_LSP14, LSP14_NAMES, (LSP14_LEFT_HIP, LSP14_RIGHT_HIP))


def smpl24_joint_set(j_regressor_smpl: np.ndarray) -> JointSet:
    """The 24 SMPL joints of the (neutral) model's ``J_regressor``, aligned at the mid-point of joints 1 and 2 (the
    hips): TokenHMR's EMDB evaluation."""
    reg = np.asarray(j_regressor_smpl, dtype=np.float64)
    if reg.ndim != 2 or reg.shape[0] != 24:
        raise ValueError(f"SMPL joint regressor must be (24, V); got {reg.shape}")
    return JointSet("smpl24", reg, tuple(range(24)), SMPL24_NAMES, (1, 2))


@dataclass
class BodyEvalReport:
    """Errors of one engine on one dataset split under one protocol (millimetres)."""

    dataset: str
    engine: str
    protocol: str
    joints: str = "lsp14"  # the JointSet the 3D errors are computed on
    num_samples: int = 0
    num_missed: int = 0
    mpjpe_mm: float = float("nan")
    pa_mpjpe_mm: float = float("nan")
    mve_mm: float = float("nan")
    accel_mm: float = float("nan")  # mm/frame², over runs of >= 3 consecutive frames; nan when there are none
    accel_frames: int = 0  # interior frames the acceleration error averages over
    per_joint_mm: dict[str, float] = field(default_factory=dict)
    per_sequence_mm: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def consecutive_runs(frame_indices: list[int]) -> list[list[int]]:
    """Positions of runs of consecutive frames in sorted, unique frame indices: [4,5,6,9,10] -> [[0,1,2],[3,4]]."""
    runs: list[list[int]] = []
    for n, f in enumerate(frame_indices):
        if n and f == frame_indices[n - 1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def _acceleration(tracks: dict[tuple[str, int], list[tuple[int, np.ndarray, np.ndarray]]]
                  ) -> tuple[float, int, dict[str, tuple[float, int]]]:
    """Acceleration error (mm/frame²) over consecutive runs of each (sequence, person) track.

    Returns:
        (mean over all interior frames, number of interior frames, per sequence (mean, frames)).
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for (seq, _person), rows in tracks.items():
        rows = sorted(rows, key=lambda r: r[0])
        frames = [r[0] for r in rows]
        if len(set(frames)) != len(frames):
            raise ValueError(f"{seq}: a person has two samples for the same frame; cannot compute acceleration")
        for run in consecutive_runs(frames):
            if len(run) < 3:
                continue
            pred = np.stack([rows[i][1] for i in run])
            gt = np.stack([rows[i][2] for i in run])
            interior = len(run) - 2
            sums[seq] = sums.get(seq, 0.0) + acceleration_error(pred, gt) * 1000.0 * interior
            counts[seq] = counts.get(seq, 0) + interior
    total = sum(counts.values())
    mean = sum(sums.values()) / total if total else float("nan")
    return mean, total, {k: (sums[k] / counts[k], counts[k]) for k in sums}


def _aa_to_result_vertices(vertices_fn: VerticesFn, person: PersonResult) -> np.ndarray:
    return vertices_fn("neutral", np.asarray(person.global_orient).reshape(3),
                       np.asarray(person.body_pose).reshape(69), np.asarray(person.betas).reshape(-1)[:10])


def _batched(samples: Iterable[BodySample], reconstruct_batch: ReconstructBatchFn, batch_size: int,
             protocol: CropProtocol, load_image: Callable[[BodySample], np.ndarray]
             ) -> Iterator[tuple[BodySample, "PersonResult | None"]]:
    """(sample, engine result) pairs, reconstructing ``batch_size`` samples per call."""
    it = iter(samples)
    while True:
        chunk = list(itertools.islice(it, batch_size))
        if not chunk:
            return
        inputs = [apply_crop_protocol(load_image(s), s.bbox_xyxy, protocol) for s in chunk]
        people = reconstruct_batch([i for i, _ in inputs], [b for _, b in inputs])
        if len(people) != len(chunk):
            raise ValueError(f"reconstruct_batch returned {len(people)} results for {len(chunk)} samples")
        yield from zip(chunk, people)


def evaluate_bodies(
    samples: Iterable[BodySample],
    reconstruct: ReconstructFn | None,
    vertices_fn: VerticesFn,
    joint_set: JointSet | np.ndarray,
    *,
    dataset: str,
    engine: str,
    protocol: CropProtocol = CROP_PROTOCOLS["full"],
    load_image: Callable[[BodySample], np.ndarray],
    progress: Callable[[int], None] | None = None,
    reconstruct_batch: ReconstructBatchFn | None = None,
    batch_size: int = 16,
    reconstruct_sample: ReconstructSampleFn | None = None,
) -> BodyEvalReport:
    """Scores ``reconstruct`` (or ``reconstruct_batch``) on every sample.

    Args:
        samples: ground-truth people (e.g. from ``read_3dpw``).
        reconstruct: the engine call for one person box (None when ``reconstruct_batch`` is given).
        vertices_fn: SMPL forward for a gender and axis-angle parameters.
        joint_set: the joints the errors are computed on; a bare (17, V) array is the H36M regressor
            (``lsp14_joint_set``).
        dataset, engine: labels for the report.
        protocol: input protocol (full image, or a boundary crop).
        load_image: reads a sample's BGR image.
        progress: called with the number of samples done so far.
        reconstruct_batch: the engine call for ``batch_size`` (image, box) pairs at once; used instead of
            ``reconstruct`` when given (batched GPU inference).
        batch_size: samples per ``reconstruct_batch`` call.
        reconstruct_sample: used instead of both when given: gets the sample and its ground-truth box and reads
            the frames itself (``load_image`` is not called; only the full-image protocol applies).
    """
    if reconstruct_sample is not None:
        if protocol.fraction > 0:
            raise ValueError(f"the {protocol.name} protocol changes the images; it cannot be combined with "
                             "reconstruct_sample, which reads the frames itself")
        results = ((s, reconstruct_sample(s, np.asarray(s.bbox_xyxy, dtype=np.float64))) for s in samples)
    elif reconstruct_batch is None:
        if reconstruct is None:
            raise ValueError("evaluate_bodies needs reconstruct or reconstruct_batch")
        batch_size = 1

        def reconstruct_batch(images, boxes):
            return [reconstruct(images[0], boxes[0])]
    if reconstruct_sample is None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        results = _batched(samples, reconstruct_batch, batch_size, protocol, load_image)
    if not isinstance(joint_set, JointSet):
        joint_set = lsp14_joint_set(joint_set)
    hips = list(joint_set.hips)
    report = BodyEvalReport(dataset=dataset, engine=engine, protocol=protocol.name, joints=joint_set.name)
    if protocol.fraction > 0:
        report.notes.append(f"{protocol.name}: the bottom {protocol.fraction:.0%} of each person box is blanked "
                            "(our definition of the boundary-crop protocol)")
    rows = []  # (sequence, mpjpe, pa_mpjpe, mve, per_joint)
    tracks: dict[tuple[str, int], list[tuple[int, np.ndarray, np.ndarray]]] = {}  # for the acceleration error
    for n, (sample, person) in enumerate(results, start=1):
        if person is None:
            report.num_missed += 1
            logger.warning("%s frame %d: the engine returned no person", sample.sequence, sample.frame_index)
            if progress:
                progress(n)
            continue
        gt_v = vertices_fn(sample.gender, sample.global_orient, sample.body_pose, sample.betas)[None]
        pred_v = _aa_to_result_vertices(vertices_fn, person)[None]
        gt_j = joint_set.joints(gt_v)
        pred_j = joint_set.joints(pred_v)
        gt_pelvis = gt_j[:, hips].mean(axis=1, keepdims=True)
        pred_pelvis = pred_j[:, hips].mean(axis=1, keepdims=True)
        gt_ja, pred_ja = align_by_pelvis(gt_j, *hips), align_by_pelvis(pred_j, *hips)
        per_joint = np.linalg.norm(pred_ja - gt_ja, axis=-1)[0] * 1000.0
        tracks.setdefault((sample.sequence, sample.person_index), []).append(
            (sample.frame_index, pred_ja[0], gt_ja[0]))
        rows.append((
            sample.sequence,
            float(mpjpe(pred_ja, gt_ja)[0] * 1000.0),
            float(pa_mpjpe(pred_ja, gt_ja)[0] * 1000.0),
            float(np.linalg.norm((pred_v - pred_pelvis) - (gt_v - gt_pelvis), axis=-1).mean() * 1000.0),
            per_joint,
        ))
        if progress:
            progress(n)
    report.num_samples = len(rows)
    if rows:
        report.mpjpe_mm = float(np.mean([r[1] for r in rows]))
        report.pa_mpjpe_mm = float(np.mean([r[2] for r in rows]))
        report.mve_mm = float(np.mean([r[3] for r in rows]))
        per_joint = np.mean([r[4] for r in rows], axis=0)
        report.per_joint_mm = {name: float(v) for name, v in zip(joint_set.names, per_joint)}
        for seq in sorted({r[0] for r in rows}):
            sel = [r for r in rows if r[0] == seq]
            report.per_sequence_mm[seq] = {"mpjpe": float(np.mean([r[1] for r in sel])),
                                           "pa_mpjpe": float(np.mean([r[2] for r in sel])),
                                           "mve": float(np.mean([r[3] for r in sel])), "count": len(sel)}
        report.accel_mm, report.accel_frames, per_seq_accel = _acceleration(tracks)
        for seq, (value, frames) in per_seq_accel.items():
            report.per_sequence_mm[seq]["accel"] = value
            report.per_sequence_mm[seq]["accel_frames"] = frames
    return report
