"""Multi-object tracking metrics: CLEAR MOT (MOTA, ID switches), IDF1 and HOTA, as pure functions.

Input is a list of frames; each frame holds the ground-truth ids, the tracker ids and a similarity matrix between
them (IoU of boxes for PoseTrack, or any score in [0, 1]). The definitions follow Bernardin & Stiefelhagen 2008
(CLEAR MOT), Ristani et al. 2016 (IDF1) and Luiten et al. 2021 (HOTA, as implemented by TrackEval).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["TrackingFrame", "TrackingScores", "evaluate_tracking", "box_iou"]


@dataclass(frozen=True)
class TrackingFrame:
    """One frame of a tracking evaluation.

    Attributes:
        gt_ids: (G,) int ground-truth identities present in the frame.
        pred_ids: (P,) int tracker identities output in the frame.
        similarity: (G, P) similarity in [0, 1] between every ground truth and prediction.
    """

    gt_ids: np.ndarray
    pred_ids: np.ndarray
    similarity: np.ndarray


@dataclass(frozen=True)
class TrackingScores:
    """Tracking metrics over a whole sequence (or set of sequences)."""

    mota: float
    id_switches: int
    false_positives: int
    misses: int
    num_gt: int
    idf1: float
    hota: float
    deta: float
    assa: float


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU between two sets of xyxy boxes: (A, 4) and (B, 4) → (A, B)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _validate(frames: list[TrackingFrame]) -> None:
    for t, f in enumerate(frames):
        g, p = len(f.gt_ids), len(f.pred_ids)
        if np.asarray(f.similarity).shape != (g, p):
            raise ValueError(f"frame {t}: similarity must be (G, P) = ({g}, {p}); got {np.asarray(f.similarity).shape}")


def _clear_mot(frames: list[TrackingFrame], threshold: float) -> tuple[int, int, int, int]:
    """CLEAR MOT matching: keep last frame's matches while still above threshold, Hungarian for the rest."""
    previous: dict[int, int] = {}  # gt id -> pred id of its last match
    tp = fp = fn = idsw = 0
    for f in frames:
        sim = np.asarray(f.similarity, dtype=np.float64)
        gt_ids = [int(v) for v in f.gt_ids]
        pred_ids = [int(v) for v in f.pred_ids]
        score = np.where(sim >= threshold, sim, 0.0)
        # Continuity first: a pair matched last frame wins if it is still valid (the CLEAR MOT rule).
        for gi, g in enumerate(gt_ids):
            if g in previous and previous[g] in pred_ids:
                pj = pred_ids.index(previous[g])
                if sim[gi, pj] >= threshold:
                    score[gi, pj] += 1000.0
        matched_gt: set[int] = set()
        matched_pred: set[int] = set()
        if score.size:
            rows, cols = linear_sum_assignment(-score)
            for r, c in zip(rows, cols):
                if sim[r, c] < threshold:
                    continue
                g, p = gt_ids[r], pred_ids[c]
                if g in previous and previous[g] != p:
                    idsw += 1
                previous[g] = p
                matched_gt.add(r)
                matched_pred.add(c)
        tp += len(matched_gt)
        fn += len(gt_ids) - len(matched_gt)
        fp += len(pred_ids) - len(matched_pred)
    return tp, fp, fn, idsw


def _idf1(frames: list[TrackingFrame], threshold: float) -> float:
    gt_all = sorted({int(v) for f in frames for v in f.gt_ids})
    pred_all = sorted({int(v) for f in frames for v in f.pred_ids})
    if not gt_all and not pred_all:
        return 1.0
    gi = {g: i for i, g in enumerate(gt_all)}
    pi = {p: i for i, p in enumerate(pred_all)}
    overlap = np.zeros((len(gt_all), len(pred_all)))
    gt_len = np.zeros(len(gt_all))
    pred_len = np.zeros(len(pred_all))
    for f in frames:
        sim = np.asarray(f.similarity, dtype=np.float64)
        for r, g in enumerate(f.gt_ids):
            gt_len[gi[int(g)]] += 1
            for c, p in enumerate(f.pred_ids):
                if sim[r, c] >= threshold:
                    overlap[gi[int(g)], pi[int(p)]] += 1
        for p in f.pred_ids:
            pred_len[pi[int(p)]] += 1
    # Global one-to-one trajectory assignment maximising identity true positives.
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    idtp = float(sum(overlap[r, c] for r, c in zip(rows, cols)))
    idfn = gt_len.sum() - idtp
    idfp = pred_len.sum() - idtp
    denom = 2 * idtp + idfn + idfp
    return float(2 * idtp / denom) if denom else 1.0


def _hota(frames: list[TrackingFrame]) -> tuple[float, float, float]:
    """HOTA, DetA and AssA averaged over alpha = 0.05 .. 0.95 (TrackEval's algorithm)."""
    alphas = np.arange(0.05, 0.99, 0.05)
    gt_all = sorted({int(v) for f in frames for v in f.gt_ids})
    pred_all = sorted({int(v) for f in frames for v in f.pred_ids})
    gi = {g: i for i, g in enumerate(gt_all)}
    pi = {p: i for i, p in enumerate(pred_all)}
    n_g, n_p = len(gt_all), len(pred_all)
    if n_g == 0 or n_p == 0:
        return 0.0, 0.0, 0.0
    # Pass 1: global alignment score between identities from soft per-frame matches.
    potential = np.zeros((n_g, n_p))
    gt_count = np.zeros((n_g, 1))
    pred_count = np.zeros((1, n_p))
    for f in frames:
        sim = np.asarray(f.similarity, dtype=np.float64)
        g_idx = [gi[int(g)] for g in f.gt_ids]
        p_idx = [pi[int(p)] for p in f.pred_ids]
        if sim.size:
            denom = sim.sum(0, keepdims=True) + sim.sum(1, keepdims=True) - sim
            sim_iou = np.where(denom > 1e-12, sim / np.maximum(denom, 1e-12), 0.0)
            potential[np.ix_(g_idx, p_idx)] += sim_iou
        gt_count[g_idx, 0] += 1
        pred_count[0, p_idx] += 1
    global_score = potential / (gt_count + pred_count - potential)
    # Pass 2: per-frame Hungarian on alignment-weighted similarity, counted for each alpha.
    tp = np.zeros(len(alphas))
    fn = np.zeros(len(alphas))
    fp = np.zeros(len(alphas))
    # Matched (gt, pred) pair counts per alpha, sparse: identities of different videos never meet.
    matches: list[dict[tuple[int, int], int]] = [{} for _ in alphas]
    for f in frames:
        sim = np.asarray(f.similarity, dtype=np.float64)
        g_idx = np.array([gi[int(g)] for g in f.gt_ids], dtype=int)
        p_idx = np.array([pi[int(p)] for p in f.pred_ids], dtype=int)
        if len(g_idx) == 0 or len(p_idx) == 0:
            fn += len(g_idx)
            fp += len(p_idx)
            continue
        score = global_score[np.ix_(g_idx, p_idx)] * sim
        rows, cols = linear_sum_assignment(-score)
        for a, alpha in enumerate(alphas):
            ok = sim[rows, cols] >= alpha - np.finfo(float).eps
            n_ok = int(ok.sum())
            tp[a] += n_ok
            fn[a] += len(g_idx) - n_ok
            fp[a] += len(p_idx) - n_ok
            for g, p in zip(g_idx[rows[ok]].tolist(), p_idx[cols[ok]].tolist()):
                matches[a][(g, p)] = matches[a].get((g, p), 0) + 1
    deta = tp / np.maximum(tp + fn + fp, 1)
    assa = np.zeros(len(alphas))
    for a in range(len(alphas)):
        if tp[a] == 0:
            continue
        total = 0.0
        for (g, p), m in matches[a].items():
            total += m * m / max(gt_count[g, 0] + pred_count[0, p] - m, 1)
        assa[a] = total / tp[a]
    hota = np.sqrt(deta * assa)
    return float(hota.mean()), float(deta.mean()), float(assa.mean())


def evaluate_tracking(frames: list[TrackingFrame], threshold: float = 0.5) -> TrackingScores:
    """MOTA, ID switches, IDF1 (matches at ``similarity >= threshold``) and HOTA (all alphas) of a sequence.

    Args:
        frames: per-frame ids and similarities, in time order.
        threshold: minimum similarity for a CLEAR MOT / IDF1 match (IoU 0.5 is the PoseTrack convention).
    """
    _validate(frames)
    tp, fp, fn, idsw = _clear_mot(frames, threshold)
    num_gt = tp + fn
    mota = 1.0 - (fn + fp + idsw) / num_gt if num_gt else float("nan")
    hota, deta, assa = _hota(frames)
    return TrackingScores(mota=mota, id_switches=idsw, false_positives=fp, misses=fn, num_gt=num_gt,
                          idf1=_idf1(frames, threshold), hota=hota, deta=deta, assa=assa)
