"""Training crop and augmentation of an HMR sample, as upstream's ``get_example`` does it.

Order (``hmr2/datasets/utils.py``, identical in TokenHMR): draw (scale, rotation, flip, colour, translation);
shift the box centre by the translation; flip + rotate the 3D keypoints; cut the rotated, scaled square patch with
``cv2.warpAffine`` (image flipped first when flipping); flip the SMPL pose (left/right joint swap, negate the y and z
axis-angle components) and rotate the global orientation in the image plane; scale the colour channels, normalise;
flip the 2D keypoints (x → W − 1 − x, then the 44-keypoint permutation), map them into the patch, and express
them as ``patch_px / 256 − 0.5``. Not reproduced: the "extreme crop" augmentation (EFT-style crops to the upper
body), which needs per-dataset keypoint heuristics.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from backend.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle

__all__ = [
    "FLIP_BODY_JOINT_PERMUTATION",
    "FLIP_KEYPOINT_PERMUTATION",
    "AugmentConfig",
    "AugmentParams",
    "crop_and_augment",
    "draw_augmentation",
]

# The 44-keypoint left/right swap (hmr2 ``image_dataset.py``): 25 OpenPose body, then 19 extra keypoints.
_BODY_PERM = [0, 1, 5, 6, 7, 2, 3, 4, 8, 12, 13, 14, 9, 10, 11, 16, 15, 18, 17, 22, 23, 24, 19, 20, 21]
_EXTRA_PERM = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 15, 16, 17, 18]
FLIP_KEYPOINT_PERMUTATION: tuple[int, ...] = tuple(_BODY_PERM + [25 + i for i in _EXTRA_PERM])
# The left/right swap of SMPL body joints 1..23 (0-based body index), from upstream's 69-value permutation.
FLIP_BODY_JOINT_PERMUTATION: tuple[int, ...] = (1, 0, 2, 4, 3, 5, 7, 6, 8, 10, 9, 11, 13, 12, 14, 16, 15, 18, 17,
                                                20, 19, 22, 21)  # fmt: skip

IMAGE_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
IMAGE_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges (``DATASETS.CONFIG`` of the official ``experiment/default.yaml``)."""

    scale_factor: float = 0.3  # box scale = 1 + clip(N(0,1), ±1) · this
    rot_factor: float = 30.0  # degrees; rotation = clip(N(0,1), ±2) · this ...
    rot_aug_rate: float = 0.6  # ... with this probability, else 0
    trans_factor: float = 0.02  # box shift = clip(N(0,1), ±1) · this · box size
    color_scale: float = 0.2  # per-channel gain uniform in [1 − this, 1 + this]
    flip_aug_rate: float = 0.5  # probability of a horizontal flip
    do_flip: bool = True  # allow flips at all


@dataclass(frozen=True)
class AugmentParams:
    """One draw of the augmentation."""

    scale: float  # box scale factor
    rot_deg: float  # in-plane rotation, degrees
    flip: bool  # horizontal flip
    color: tuple[float, float, float]  # per-channel gain (RGB)
    tx: float  # box shift, fraction of its width
    ty: float  # box shift, fraction of its height


NO_AUGMENT = AugmentParams(scale=1.0, rot_deg=0.0, flip=False, color=(1.0, 1.0, 1.0), tx=0.0, ty=0.0)


def draw_augmentation(config: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """Random augmentation parameters with upstream's distributions (``do_augmentation``)."""
    tx = float(np.clip(rng.standard_normal(), -1, 1)) * config.trans_factor
    ty = float(np.clip(rng.standard_normal(), -1, 1)) * config.trans_factor
    scale = float(np.clip(rng.standard_normal(), -1, 1)) * config.scale_factor + 1.0
    rot_draw = float(np.clip(rng.standard_normal(), -2, 2)) * config.rot_factor
    rot = rot_draw if rng.random() <= config.rot_aug_rate else 0.0
    flip = bool(config.do_flip and rng.random() <= config.flip_aug_rate)
    lo, hi = 1.0 - config.color_scale, 1.0 + config.color_scale
    color = tuple(float(rng.uniform(lo, hi)) for _ in range(3))
    return AugmentParams(scale=scale, rot_deg=rot, flip=flip, color=color, tx=tx, ty=ty)  # type: ignore[arg-type]


def _patch_transform(cx: float, cy: float, size: float, patch: int, scale: float, rot_deg: float) -> np.ndarray:
    """2×3 affine mapping image pixels to the patch: the box centre to the patch centre, rotated and scaled."""
    rad = np.deg2rad(rot_deg)
    sn, cs = np.sin(rad), np.cos(rad)
    half = size * scale * 0.5
    down = np.array([-half * sn, half * cs], dtype=np.float32)  # (0, half) rotated by rot
    right = np.array([half * cs, half * sn], dtype=np.float32)  # (half, 0) rotated by rot
    c = np.array([cx, cy], dtype=np.float32)
    src = np.stack([c, c + down, c + right]).astype(np.float32)
    p = patch * 0.5
    dst = np.array([[p, p], [p, 2 * p], [2 * p, p]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def _flip_pose(body_pose_aa: np.ndarray) -> np.ndarray:
    """(72,) axis-angle (root + 23 joints) mirrored left/right: swap joints, negate the y and z components."""
    pose = body_pose_aa.reshape(24, 3).copy()
    pose[1:] = pose[1:][list(FLIP_BODY_JOINT_PERMUTATION)]
    pose[:, 1:] *= -1.0
    return pose.reshape(72)


def _rotate_root(root_aa: np.ndarray, rot_deg: float) -> np.ndarray:
    """Apply the in-plane image rotation (about the camera z axis, by −rot) to the root orientation."""
    if rot_deg == 0:
        return root_aa
    rad = np.deg2rad(-rot_deg)
    rz = np.array([[np.cos(rad), -np.sin(rad), 0.0], [np.sin(rad), np.cos(rad), 0.0], [0.0, 0.0, 1.0]])
    r = axis_angle_to_rotmat(torch.from_numpy(root_aa.astype(np.float64)))
    return rotmat_to_axis_angle(torch.from_numpy(rz) @ r).numpy().astype(np.float32)


def crop_and_augment(
    image_rgb: np.ndarray, person: dict[str, np.ndarray], params: AugmentParams, patch: int = 256
) -> dict[str, np.ndarray]:
    """Cut the training patch and transform the annotations consistently.

    Args:
        image_rgb: (H, W, 3) uint8.
        person: ``webdataset.decode_person`` output (pixels, metres, axis-angle).
        params: augmentation (``NO_AUGMENT`` for validation).
        patch: output side in pixels.
    Returns:
        img (3, patch, patch) float32 normalised RGB; keypoints_2d (44, 3) crop-normalised + confidence;
        keypoints_3d (44, 4); body_pose (72,) axis-angle (root first); betas (10,); box_center (2,); box_size ().
    """
    h, w = image_rgb.shape[:2]
    # The square box of side max(h, w·256/192) around the annotated box (BBOX_SHAPE [192, 256]).
    bw, bh = person["scale"] * 200.0
    size = float(max(bh, bw * 256.0 / 192.0))
    cx, cy = float(person["center"][0]), float(person["center"][1])
    cx += size * params.tx
    cy += size * params.ty
    kp3d = person["keypoints_3d"].copy()
    kp2d = person["keypoints_2d"].copy()
    pose = person["body_pose"].copy()
    img = image_rgb
    if params.flip:
        img = img[:, ::-1]
        cx = w - cx - 1
        kp3d[:, 0] *= -1.0
        kp3d = kp3d[list(FLIP_KEYPOINT_PERMUTATION)]
        kp2d[:, 0] = w - kp2d[:, 0] - 1
        kp2d = kp2d[list(FLIP_KEYPOINT_PERMUTATION)]
        pose = _flip_pose(pose)
    if params.rot_deg != 0:
        rad = np.deg2rad(-params.rot_deg)
        rz = np.array([[np.cos(rad), -np.sin(rad), 0], [np.sin(rad), np.cos(rad), 0], [0, 0, 1]], dtype=np.float32)
        kp3d[:, :3] = kp3d[:, :3] @ rz.T
        pose[:3] = _rotate_root(pose[:3], params.rot_deg)
    trans = _patch_transform(cx, cy, size, patch, params.scale, params.rot_deg)
    crop = cv2.warpAffine(np.ascontiguousarray(img), trans, (patch, patch), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    crop = np.clip(crop.astype(np.float32) * np.asarray(params.color, dtype=np.float32), 0, 255)
    crop = (crop - IMAGE_MEAN) / IMAGE_STD
    kp2d[:, :2] = kp2d[:, :2] @ trans[:, :2].T + trans[:, 2]
    kp2d[:, :2] = kp2d[:, :2] / patch - 0.5
    return {
        "img": np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32),
        "keypoints_2d": kp2d.astype(np.float32), "keypoints_3d": kp3d.astype(np.float32),
        "body_pose": pose.astype(np.float32), "betas": person["betas"].astype(np.float32),
        "box_center": np.array([cx, cy], np.float32), "box_size": np.float32(size),
    }  # fmt: skip
