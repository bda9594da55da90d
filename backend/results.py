"""The per-person reconstruction result every engine returns (TokenHMR, HMR 2.0, lite).

One schema for all engines, so the server, the video pipeline and the add-on never care which engine ran.
Rotations are axis-angle in SMPL joint order (smplx), frames as DESIGN.md §5: the camera frame is OpenCV's
(x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PersonResult"]


@dataclass(frozen=True)
class PersonResult:
    """One reconstructed person in one image.

    Attributes:
        engine: which engine produced it: "tokenhmr", "hmr2" or "lite".
        bbox_xyxy: (4,) person box in image pixels (x1, y1, x2, y2).
        score: detection confidence in [0, 1] (1.0 for a box the client supplied).
        global_orient: (3,) axis-angle of the pelvis in the camera frame.
        body_pose: (23, 3) axis-angle of SMPL joints 1..23 relative to their parents.
        betas: (10,) SMPL shape coefficients.
        cam_crop: (3,) weak-perspective camera (s, tx, ty) in crop-normalised units.
        cam_t_full: (3,) translation of the SMPL origin (not the pelvis) in the full-image camera frame, metres.
        focal_length_px: focal length of the full-image camera in pixels (5000/256 · max(W, H)).
        keypoints_2d: (44, 2) projected keypoints in full-image pixels (25 OpenPose + 19 extra joints).
    """

    engine: str
    bbox_xyxy: np.ndarray
    score: float
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    cam_crop: np.ndarray
    cam_t_full: np.ndarray
    focal_length_px: float
    keypoints_2d: np.ndarray

    def to_json(self) -> dict:
        """Plain-JSON form (lists of floats), the `people[i]` object of a protocol `result`."""
        return {
            "engine": self.engine,
            "bbox": [float(v) for v in np.asarray(self.bbox_xyxy).reshape(4)],
            "score": float(self.score),
            "global_orient": np.asarray(self.global_orient, dtype=np.float64).reshape(3).tolist(),
            "body_pose": np.asarray(self.body_pose, dtype=np.float64).reshape(23, 3).tolist(),
            "betas": np.asarray(self.betas, dtype=np.float64).reshape(-1).tolist(),
            "cam_crop": np.asarray(self.cam_crop, dtype=np.float64).reshape(3).tolist(),
            "cam_t_full": np.asarray(self.cam_t_full, dtype=np.float64).reshape(3).tolist(),
            "focal_length": float(self.focal_length_px),
            "keypoints_2d": np.asarray(self.keypoints_2d, dtype=np.float64).reshape(-1, 2).tolist(),
        }

    @classmethod
    def from_json(cls, obj: dict) -> "PersonResult":
        """Inverse of :meth:`to_json`; raises ``ValueError`` naming the field on a wrong shape."""
        shapes = {"bbox": (4,), "global_orient": (3,), "body_pose": (23, 3), "cam_crop": (3,), "cam_t_full": (3,)}
        arrays = {}
        for key, shape in shapes.items():
            arr = np.asarray(obj[key], dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"person result field {key!r}: expected shape {shape}, got {arr.shape}")
            arrays[key] = arr
        return cls(
            engine=str(obj["engine"]),
            bbox_xyxy=arrays["bbox"],
            score=float(obj["score"]),
            global_orient=arrays["global_orient"],
            body_pose=arrays["body_pose"],
            betas=np.asarray(obj["betas"], dtype=np.float64),
            cam_crop=arrays["cam_crop"],
            cam_t_full=arrays["cam_t_full"],
            focal_length_px=float(obj["focal_length"]),
            keypoints_2d=np.asarray(obj["keypoints_2d"], dtype=np.float64).reshape(-1, 2),
        )
