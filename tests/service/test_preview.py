"""The preview overlay: the posed SMPL mesh is projected with the result's own camera, so it must cover the same
image region as the result's keypoints (a flipped axis or a wrong focal length moves it away)."""

from __future__ import annotations

import numpy as np

from backend.preview import draw_preview, posed_mesh_2d

from .test_model_service import BOXES


def test_projected_mesh_covers_the_keypoints_and_is_drawn(installed_models, reference_engine, astronaut_bgr):
    smpl_path = installed_models / "smpl" / "SMPL_NEUTRAL.pkl"
    people = [p.to_json() for p in reference_engine.reconstruct(astronaut_bgr, np.array(BOXES, np.float32))]
    centre = np.array([astronaut_bgr.shape[1], astronaut_bgr.shape[0]]) / 2.0
    for person in people:
        points, depth, faces = posed_mesh_2d(person, smpl_path)
        points = points + centre
        assert points.shape == (6890, 2) and faces.shape[1] == 3 and (depth > 0).all(), (points.shape, depth.min())
        lo, hi = points.min(axis=0), points.max(axis=0)
        keypoints = np.asarray(person["keypoints_2d"])[:25]
        k_lo, k_hi = keypoints.min(axis=0), keypoints.max(axis=0)
        margin = 0.05 * (hi - lo)
        assert (k_lo >= lo - margin).all() and (k_hi <= hi + margin).all(), (lo, hi, k_lo, k_hi)
        assert ((k_hi - k_lo) > 0.5 * (hi - lo)).all(), f"mesh extent {hi - lo} far larger than the skeleton's"
    skeleton_only = draw_preview(astronaut_bgr, people)
    with_mesh = draw_preview(astronaut_bgr, people, smpl_path=smpl_path)
    points, _, _ = posed_mesh_2d(people[0], smpl_path)
    x, y = np.round(np.median(points + centre, axis=0)).astype(int)
    assert (with_mesh[y - 3:y + 4, x - 3:x + 4] != skeleton_only[y - 3:y + 4, x - 3:x + 4]).any(), \
        "the mesh was not drawn at its own projected centre"
