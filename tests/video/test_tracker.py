"""Tracker on synthetic multi-person scenes with ground truth: crossing paths, occlusion, people entering/leaving.

Scores come from ``backend.eval.evaluate_tracking`` (CLEAR MOT, the eval package's tested implementation) on a
pelvis-distance similarity; the adapter below is checked on hand-worked cases first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.eval import TrackingFrame, evaluate_tracking
from backend.video import ConfirmationBuffer, Detection, Tracker, TrackerConfig, pose_distance
from backend.video.appearance import APPEARANCE_DIM

MATCH_RADIUS_M = 0.5


@dataclass
class Person:
    gid: int
    start: np.ndarray  # (3,) pelvis at its first frame
    velocity: np.ndarray  # (3,) metres per frame
    first: int
    last: int  # inclusive
    colour: np.ndarray  # (APPEARANCE_DIM,) appearance
    pose: np.ndarray  # (24, 3) axis-angle base pose
    hidden: tuple[int, int] = (-1, -1)  # frames [a, b) with no detection (occluded)

    def position(self, t: int) -> np.ndarray:
        return self.start + self.velocity * (t - self.first)


def _colour(rng: np.random.Generator, hue: int) -> np.ndarray:
    """A plausible sqrt-histogram embedding concentrated on one hue bin (two halves)."""
    h = np.full(APPEARANCE_DIM, 0.02) + rng.uniform(0, 0.02, APPEARANCE_DIM)
    h[hue] += 1.0
    h[APPEARANCE_DIM // 2 + (hue + 7) % (APPEARANCE_DIM // 2)] += 1.0
    half = APPEARANCE_DIM // 2
    out = np.concatenate([h[:half] / h[:half].sum(), h[half:] / h[half:].sum()])
    return np.sqrt(out) / np.sqrt(2)


def _simulate(people: list[Person], n_frames: int, seed: int, config: TrackerConfig = TrackerConfig()):
    """Runs the tracker (with the confirmation buffer) and returns per-frame GT / predicted ids and positions."""
    rng = np.random.default_rng(seed)
    tracker = Tracker(config)
    buffer = ConfirmationBuffer(tracker)
    released = []
    for t in range(n_frames):
        dets = []
        for p in people:
            if not p.first <= t <= p.last or p.hidden[0] <= t < p.hidden[1]:
                continue
            pos = p.position(t) + np.concatenate([rng.normal(0, 0.03, 2), [0.0]])
            pos[2] = p.position(t)[2] * np.exp(rng.normal(0, 0.05))
            pose = p.pose + rng.normal(0, 0.05, (24, 3))
            app = np.clip(p.colour + rng.normal(0, 0.02, APPEARANCE_DIM), 0, None)
            dets.append(Detection(pos, Rotation.from_rotvec(pose).as_matrix(), app, payload=p.gid))
        rng.shuffle(dets)
        released += buffer.push(t, tracker.update(t, dets))
    released += buffer.flush()
    frames = []
    for t, outs in released:
        gt = [p for p in people if p.first <= t <= p.last]
        gt_pos = np.array([p.position(t) for p in gt]).reshape(-1, 3)
        pr_pos = np.array([o.pelvis_cam for o in outs]).reshape(-1, 3)
        # x/y only: the simulated depth noise (5 %) is detection error, not a tracking error.
        dist = np.linalg.norm(gt_pos[:, None, :2] - pr_pos[None, :, :2], axis=-1)
        frames.append(TrackingFrame(np.array([p.gid for p in gt]), np.array([o.track_id for o in outs]),
                                    np.clip(1 - dist / (2 * MATCH_RADIUS_M), 0, 1)))
    return frames, released


def test_similarity_adapter_hand_worked():
    # Frame 0: gt 1 at x=0 matched by pred 7 (10 cm away); frame 1: gt 1 now closest to pred 8 → one ID switch;
    # frame 2: pred 9 far from everything → one false positive, gt 1 missed. MOTA = 1 − (1 fn + 1 fp + 1 sw) / 3.
    def frame(gt_x, pred_ids, pred_x):
        d = np.abs(np.array(gt_x)[:, None] - np.array(pred_x)[None])
        return TrackingFrame(np.ones(len(gt_x), int), np.array(pred_ids), np.clip(1 - d / (2 * MATCH_RADIUS_M), 0, 1))

    scores = evaluate_tracking([frame([0.0], [7], [0.1]), frame([1.0], [8], [1.05]), frame([2.0], [9], [5.0])])
    assert scores.id_switches == 1, f"expected 1 ID switch, got {scores.id_switches}"
    assert (scores.misses, scores.false_positives) == (1, 1), f"expected 1 miss 1 FP, got {scores}"
    assert scores.mota == pytest.approx(0.0), f"expected MOTA 0, got {scores.mota}"


def test_pose_distance_hand_worked():
    eye = np.broadcast_to(np.eye(3), (24, 3, 3))
    half = eye.copy()
    half[0] = Rotation.from_rotvec([np.pi / 2, 0, 0]).as_matrix()  # one joint at 90°: 1 − cos = 1, mean 1/24
    d = pose_distance(eye[None], np.stack([eye, half]))
    np.testing.assert_allclose(d, [[0.0, 1 / 24]], atol=1e-12, err_msg=f"expected [[0, 1/24]], got {d}")


def _person(gid, start, vel, first, last, rng, hue, hidden=(-1, -1)):
    return Person(gid, np.array(start, float), np.array(vel, float), first, last, _colour(rng, hue),
                  rng.normal(0, 0.3, (24, 3)), hidden)


def _crossing_scores(config: TrackerConfig, seeds=range(5)):
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        # Two people walk towards each other at 0.9 m/s (30 fps), same height and depth: their pelvises coincide
        # at frame 40, and stay within the 3 cm detection noise of each other for several frames.
        people = [_person(1, [-1.2, 0.0, 6.0], [0.03, 0, 0], 0, 79, rng, 3),
                  _person(2, [1.2, 0.0, 6.0], [-0.03, 0, 0], 0, 79, rng, 30)]
        out.append(evaluate_tracking(_simulate(people, 80, seed=seed + 10, config=config)[0]))
    return out


def test_crossing_paths_zero_id_switches():
    scores = _crossing_scores(TrackerConfig())
    switches = [s.id_switches for s in scores]
    assert switches == [0] * 5, f"crossing: expected 0 ID switches on every seed, got {switches}"
    motas = [round(s.mota, 3) for s in scores]
    assert min(motas) >= 0.95, f"crossing: expected MOTA >= 0.95 on every seed, got {motas}"
    # The scene is hard: location alone with no motion model (nearest neighbour) swaps identities.
    naive = _crossing_scores(TrackerConfig(w_appearance=0.0, w_pose=0.0, history=1))
    assert sum(s.id_switches for s in naive) > 0, "expected the location-only ablation to switch IDs on this scene"


def test_crossing_same_clothes_is_resolved_by_motion_and_pose():
    rng = np.random.default_rng(1)
    people = [_person(1, [-1.5, 0.0, 6.0], [0.05, 0, 0], 0, 59, rng, 5),
              _person(2, [1.5, 0.0, 6.3], [-0.05, 0, 0], 0, 59, rng, 5)]
    people[1].colour = people[0].colour
    frames, _ = _simulate(people, 60, seed=2)
    s = evaluate_tracking(frames)
    assert s.id_switches == 0, f"identical clothes crossing: expected 0 ID switches, got {s.id_switches}"


def test_occlusion_is_bridged_with_predicted_states():
    rng = np.random.default_rng(2)
    # Person 1 walks behind a standing person 2 and is undetected for 10 frames.
    people = [_person(1, [-2.0, 0.0, 8.0], [0.06, 0, 0], 0, 69, rng, 8, hidden=(30, 40)),
              _person(2, [0.0, 0.0, 5.0], [0.0, 0, 0], 0, 69, rng, 40)]
    frames, released = _simulate(people, 70, seed=3)
    s = evaluate_tracking(frames)
    assert s.id_switches == 0, f"occlusion: expected 0 ID switches, got {s.id_switches}"
    states = {t: {o.track_id: o.state for o in outs} for t, outs in released}
    ids_before = set(states[29])
    ids_after = set(states[45])
    assert ids_before == ids_after == {1, 2}, f"expected tracks {{1, 2}} before and after, got {ids_before}, {ids_after}"
    hidden_states = [o.state for t in range(30, 40) for o in dict(released)[t] if o.payload == 1]
    n_pred = sum(st == "predicted" for st in hidden_states)
    assert n_pred == 10, f"expected 10 predicted states while occluded, got {n_pred}"
    assert s.mota >= 0.95, f"occlusion: expected MOTA >= 0.95, got {s.mota:.3f}"


def test_people_entering_and_leaving_get_new_ids():
    rng = np.random.default_rng(3)
    people = [_person(1, [-1.0, 0.0, 5.0], [0.01, 0, 0], 0, 79, rng, 2),
              _person(2, [3.0, 0.0, 7.0], [-0.04, 0, 0], 15, 50, rng, 20),  # enters at 15, leaves after 50
              _person(3, [-3.0, 0.2, 6.0], [0.05, 0, 0], 60, 79, rng, 35)]  # enters late
    frames, released = _simulate(people, 80, seed=4)
    s = evaluate_tracking(frames)
    assert s.id_switches == 0, f"enter/leave: expected 0 ID switches, got {s.id_switches}"
    all_ids = sorted({o.track_id for _, outs in released for o in outs})
    assert all_ids == [1, 2, 3], f"expected exactly 3 track ids, got {all_ids}"
    first_seen = {}
    for t, outs in released:
        for o in outs:
            first_seen.setdefault(o.track_id, t)
    assert first_seen[3] == 60, f"late entrant: expected its track from frame 60 (back-filled), got {first_seen[3]}"
    # After leaving (frame 50) person 2's track is predicted for max_predict frames then no longer reported.
    last_seen = max(t for t, outs in released for o in outs if o.track_id == 2)
    assert last_seen == 50 + TrackerConfig().max_predict, f"expected track 2 last at 65, got {last_seen}"
    assert s.mota >= 0.75, f"enter/leave: expected MOTA >= 0.75, got {s.mota:.3f}"


def test_tentative_false_detection_never_gets_an_id():
    tracker = Tracker(TrackerConfig(n_init=3))
    buffer = ConfirmationBuffer(tracker)
    eye = np.broadcast_to(np.eye(3), (24, 3, 3))
    app = _colour(np.random.default_rng(0), 1)
    out = []
    for t in range(6):
        dets = [Detection(np.array([0.0, 0, 5]), eye, app)]
        if t == 2:
            dets.append(Detection(np.array([3.0, 0, 5]), eye, app))  # a one-frame false positive
        out += buffer.push(t, tracker.update(t, dets))
    out += buffer.flush()
    ids = sorted({o.track_id for _, outs in out for o in outs})
    assert ids == [1], f"expected only track 1, got {ids}"
    assert [t for t, _ in out] == list(range(6)), f"expected frames 0..5 released in order, got {[t for t, _ in out]}"
