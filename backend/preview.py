"""A preview image for checking a reconstruction by eye: the projected SMPL mesh (when SMPL is installed) and the
OpenPose skeleton drawn over the photo, with each person's box and score.

Everything is projected with the result's own full-image camera (``cam_t_full``, ``focal_length``, principal point
at the image centre; OpenCV frame), so a misplaced overlay means a wrong result, not a drawing error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

__all__ = ["BODY25_EDGES", "draw_preview", "posed_mesh_2d"]

# OpenPose BODY_25 limbs (the first 25 of the 44 keypoints): (parent, child) index pairs.
BODY25_EDGES: tuple[tuple[int, int], ...] = (
    (1, 8), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13), (13, 14),
    (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)
_RIGHT = {2, 3, 4, 9, 10, 11, 15, 17, 22, 23, 24}  # keypoints on the body's right side (drawn red)
_LEFT = {5, 6, 7, 12, 13, 14, 16, 18, 19, 20, 21}  # the left side (drawn blue)


def posed_mesh_2d(person: dict, smpl_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pose the user's SMPL with a result and project it into the image.

    Args:
        person: one ``people[i]`` object of a ``result`` (axis-angle pose, betas, cam_t_full, focal_length).
        smpl_path: the installed ``SMPL_NEUTRAL.pkl``.
    Returns:
        (points_px (V, 2), depth_m (V,), faces (F, 3)) in the full image.
    """
    import torch

    from backend.body import SMPLBody
    from backend.geometry import axis_angle_to_rotmat

    body = SMPLBody.from_files(smpl_path)
    pose = torch.tensor(np.concatenate([person["global_orient"], np.ravel(person["body_pose"])]),
                        dtype=torch.float32).reshape(1, 24, 3)
    rotmats = axis_angle_to_rotmat(pose)
    betas = torch.zeros(1, 10)
    given = torch.tensor(person["betas"], dtype=torch.float32)[:10]
    betas[0, :given.shape[0]] = given
    with torch.no_grad():
        vertices = body(rotmats[:, :1], rotmats[:, 1:], betas).vertices[0].numpy().astype(np.float64)
    points = vertices + np.asarray(person["cam_t_full"], np.float64)
    return points[:, :2] / points[:, 2:3] * float(person["focal_length"]), points[:, 2], np.asarray(body.faces)


def draw_preview(image_bgr: np.ndarray, people: Sequence[dict], smpl_path: Path | None = None,
                 mesh_alpha: float = 0.45) -> np.ndarray:
    """The photo with every person's mesh (when ``smpl_path`` is given), skeleton, box and score.

    Args:
        image_bgr: (H, W, 3) uint8 BGR photo.
        people: ``people`` of a ``result`` (``PersonResult.to_json`` objects).
        smpl_path: installed SMPL model for the mesh overlay; None draws the skeleton only.
        mesh_alpha: opacity of the mesh.
    Returns:
        (H, W, 3) uint8 BGR preview.
    """
    h, w = image_bgr.shape[:2]
    centre = np.array([w / 2.0, h / 2.0])
    out = image_bgr.copy()
    if smpl_path is not None and people:
        layer = out.copy()
        mask = np.zeros((h, w), np.uint8)
        for person in sorted(people, key=lambda p: -p["cam_t_full"][2]):  # far people first
            points, depth, faces = posed_mesh_2d(person, smpl_path)
            points = points + centre
            tri = points[faces]  # (F, 3, 2)
            # shade by the face normal's facing towards the camera (a headlight)
            corners = np.concatenate([points, depth[:, None]], axis=1)[faces]  # (F, 3, 3) pixels + depth
            normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            order = np.argsort(-depth[faces].mean(axis=1))  # painter's algorithm: far faces first
            visible = (depth[faces].min(axis=1) > 0.05)
            for f in order:
                if not visible[f]:
                    continue
                n = normals[f]
                shade = 0.35 + 0.65 * abs(n[2]) / (np.linalg.norm(n) + 1e-12)
                colour = (int(200 * shade), int(170 * shade), int(120 * shade))
                cv2.fillConvexPoly(layer, np.round(tri[f] * 4).astype(np.int32), colour, lineType=cv2.LINE_AA,
                                   shift=2)
                cv2.fillConvexPoly(mask, np.round(tri[f] * 4).astype(np.int32), 255, shift=2)
        blend = cv2.addWeighted(layer, mesh_alpha, out, 1 - mesh_alpha, 0)
        out = np.where(mask[:, :, None] > 0, blend, out)
    thickness = max(1, round(max(h, w) / 400))
    for person in people:
        x1, y1, x2, y2 = [int(round(v)) for v in person["bbox"]]
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 255), thickness)
        cv2.putText(out, f"{person.get('engine', '')} {person['score']:.2f}", (x1, max(12, y1 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, (0, 255, 255), thickness, cv2.LINE_AA)
        keypoints = np.asarray(person["keypoints_2d"], np.float64)[:25]
        for a, b in BODY25_EDGES:
            pa, pb = keypoints[a], keypoints[b]
            if not (np.all(np.isfinite(pa)) and np.all(np.isfinite(pb))):
                continue
            colour = (0, 0, 255) if b in _RIGHT else (255, 0, 0) if b in _LEFT else (0, 255, 0)
            cv2.line(out, tuple(np.round(pa).astype(int)), tuple(np.round(pb).astype(int)), colour, thickness,
                     cv2.LINE_AA)
        for point in keypoints:
            if np.all(np.isfinite(point)):
                cv2.circle(out, tuple(np.round(point).astype(int)), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return out
