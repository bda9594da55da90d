"""A PNG preview of reconstructed people drawn over the photo: shaded posed mesh, then the 2D skeleton.

Works for any engine's ``PersonResult``: the mesh is the rest body (SMPL or the mannequin) posed by linear blend
skinning with the result's rotations and placed with ``cam_t_full`` in the full-image camera; the skeleton is the
result's ``keypoints_2d`` (OpenPose BODY_25 part of the 44). The person's left side is drawn in orange, the right
side in blue, the centre line in green.
"""

from __future__ import annotations

import cv2
import numpy as np

from backend.body import RestBody
from backend.lite.placement import project_points
from backend.lite.rotations import axis_angle_to_matrix
from backend.lite.skeleton import forward_kinematics
from backend.results import PersonResult

__all__ = ["pose_mesh", "draw_preview", "LEFT_BGR", "RIGHT_BGR", "CENTRE_BGR", "OPENPOSE_LIMBS"]

LEFT_BGR = (0, 140, 255)
RIGHT_BGR = (255, 120, 0)
CENTRE_BGR = (60, 200, 60)
MESH_ALPHA = 0.55
# BODY_25 limbs (keypoint indices) and which side each belongs to.
OPENPOSE_LIMBS: tuple[tuple[int, int, str], ...] = (
    (0, 1, "c"), (1, 8, "c"), (1, 2, "r"), (2, 3, "r"), (3, 4, "r"), (1, 5, "l"), (5, 6, "l"), (6, 7, "l"),
    (8, 9, "r"), (9, 10, "r"), (10, 11, "r"), (8, 12, "l"), (12, 13, "l"), (13, 14, "l"), (0, 15, "r"),
    (15, 17, "r"), (0, 16, "l"), (16, 18, "l"), (14, 19, "l"), (14, 21, "l"), (11, 22, "r"), (11, 24, "r"),
)  # fmt: skip


def pose_mesh(body: RestBody, person: PersonResult) -> np.ndarray:
    """Vertices (V, 3) of ``body`` posed by ``person`` (LBS, no pose blend shapes), camera frame, metres."""
    local = axis_angle_to_matrix(np.concatenate([person.global_orient.reshape(1, 3), person.body_pose], axis=0))
    joints, rot_global = forward_kinematics(local, body.joints, body.parents)
    # Per joint: v -> G_j (v - J_j^rest) + J_j^posed, blended by the skin weights (V, 24).
    offsets = body.vertices[:, None, :] - body.joints[None, :, :]  # (V, 24, 3)
    moved = np.einsum("jab,vjb->vja", rot_global, offsets) + joints[None]  # (V, 24, 3)
    return np.einsum("vj,vja->va", body.weights, moved) + person.cam_t_full


def _draw_mesh(canvas: np.ndarray, body: RestBody, person: PersonResult) -> None:
    height, width = canvas.shape[:2]
    verts = pose_mesh(body, person)
    if np.any(verts[:, 2] <= 1e-3):
        return  # part of the body at or behind the camera: nothing sensible to rasterise
    px = project_points(verts - person.cam_t_full, person.cam_t_full, (width, height))
    tri = verts[body.faces]  # (F, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centres = tri.mean(axis=1)
    facing = np.einsum("fa,fa->f", normals, -centres)  # > 0: the face looks towards the camera
    keep = facing > 0
    shade = np.abs(facing) / (np.linalg.norm(normals, axis=1) * np.linalg.norm(centres, axis=1) + 1e-12)
    layer = canvas.copy()
    order = np.argsort(-centres[:, 2])  # far to near: the painter's algorithm
    for f in order[keep[order]]:
        level = int(90 + 150 * shade[f])
        cv2.fillConvexPoly(layer, np.round(px[body.faces[f]]).astype(np.int32), (level, level, level), cv2.LINE_AA)
    cv2.addWeighted(layer, MESH_ALPHA, canvas, 1.0 - MESH_ALPHA, 0.0, dst=canvas)


def draw_preview(image_bgr: np.ndarray, people: list[PersonResult], body: RestBody | None = None) -> np.ndarray:
    """The photo (H, W, 3) uint8 BGR with each person's mesh (when ``body`` is given), box and skeleton."""
    canvas = np.ascontiguousarray(image_bgr).copy()
    colours = {"l": LEFT_BGR, "r": RIGHT_BGR, "c": CENTRE_BGR}
    thickness = max(2, round(max(canvas.shape[:2]) / 250))
    for person in people:
        if body is not None:
            _draw_mesh(canvas, body, person)
        x1, y1, x2, y2 = (int(round(v)) for v in person.bbox_xyxy)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (255, 255, 255), 1, cv2.LINE_AA)
        kp = np.round(person.keypoints_2d[:25]).astype(np.int32)
        for a, b, side in OPENPOSE_LIMBS:
            cv2.line(canvas, tuple(kp[a].tolist()), tuple(kp[b].tolist()), colours[side], thickness, cv2.LINE_AA)
        for i, point in enumerate(kp):
            side = "c" if i in (0, 1, 8) else ("l" if i in (5, 6, 7, 12, 13, 14, 16, 18, 19, 20, 21) else "r")
            cv2.circle(canvas, tuple(point.tolist()), thickness + 1, colours[side], -1, cv2.LINE_AA)
        label = f"{person.engine} {person.score:.2f}"
        cv2.putText(canvas, label, (x1 + 4, max(y1 + 16, 16)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return canvas
