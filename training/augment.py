"""Training crop and augmentation of an HMR sample, as upstream's ``get_example`` does it.

Order (``hmr2/datasets/utils.py``, identical in TokenHMR): draw (scale, rotation, flip, colour, translation);
shift the box centre by the translation; flip + rotate the 3D keypoints; cut the rotated, scaled square patch with
``cv2.warpAffine`` (image flipped first when flipping); flip the SMPL pose (left/right joint swap, negate the y and z
axis-angle components) and rotate the global orientation in the image plane; scale the colour channels, normalise;
flip the 2D keypoints (x → W − 1 − x, then the 44-keypoint permutation), map them into the patch, and express
them as ``patch_px / 256 − 0.5``. The "extreme crop" (EFT-style crops to a body part, upstream's
``extreme_cropping``/``extreme_cropping_aggressive``) replaces the box before the translation, from the visible 2D
keypoints: a part is chosen by a uniform draw among those the person's visible keypoints allow (:data:`CROP_REGIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from backend.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle

__all__ = [
    "CROP_REGIONS",
    "FLIP_BODY_JOINT_PERMUTATION",
    "FLIP_KEYPOINT_PERMUTATION",
    "AugmentConfig",
    "AugmentParams",
    "choose_crop_region",
    "crop_and_augment",
    "draw_augmentation",
    "region_box",
]

# The 44-keypoint left/right swap (hmr2 ``image_dataset.py``): 25 OpenPose body, then 19 extra keypoints.
_BODY_PERM = [0, 1, 5, 6, 7, 2, 3, 4, 8, 12, 13, 14, 9, 10, 11, 16, 15, 18, 17, 22, 23, 24, 19, 20, 21]
_EXTRA_PERM = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 15, 16, 17, 18]
FLIP_KEYPOINT_PERMUTATION: tuple[int, ...] = tuple(_BODY_PERM + [25 + i for i in _EXTRA_PERM])
# The left/right swap of SMPL body joints 1..23 (0-based body index), from upstream's 69-value permutation.
FLIP_BODY_JOINT_PERMUTATION: tuple[int, ...] = (1, 0, 2, 4, 3, 5, 7, 6, 8, 10, 9, 11, 13, 12, 14, 16, 15, 18, 17,
                                                20, 19, 22, 21)  # fmt: skip


def _extra(*idx: int) -> tuple[int, ...]:
    return tuple(25 + i for i in idx)


# Extreme-crop regions (hmr2 ``datasets/utils.py``): the 44 keypoints each one HIDES, and the margin applied to the
# box of the remaining visible keypoints (itself 1.2 × their extent, upstream ``get_bbox``).
CROP_REGIONS: dict[str, tuple[tuple[int, ...], float]] = {
    "hips": ((10, 11, 13, 14, 19, 20, 21, 22, 23, 24) + _extra(0, 1, 4, 5), 1.1),
    "shoulders": ((3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 19, 20, 21, 22, 23, 24)
                  + _extra(0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 14, 15, 16), 1.2),
    "head": ((3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 19, 20, 21, 22, 23, 24)
             + _extra(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16), 1.3),
    "torso": ((0, 3, 4, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
              + _extra(0, 1, 4, 5, 6, 7, 10, 11, 13, 17, 18), 1.1),
    "right_arm": ((0, 1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
                  + _extra(0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18), 1.1),
    "left_arm": ((0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
                 + _extra(0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 16, 17, 18), 1.1),
    "legs": ((0, 1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 18) + _extra(6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18), 1.1),
    "right_leg": ((0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
                  + _extra(3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18), 1.1),
    "left_leg": ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 17, 18, 22, 23, 24)
                 + _extra(0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18), 1.1),
}  # fmt: skip
# Which region a uniform draw u picks: (upper bound of u, region), for a fully visible body and for an upper body,
# at level 0 (``extreme_cropping``) and level 1 (``extreme_cropping_aggressive``, the TokenHMR setting).
_REGION_TABLES: dict[tuple[int, str], tuple[tuple[float, str], ...]] = {
    (0, "full"): ((0.7, "hips"), (0.9, "shoulders"), (1.0, "head")),
    (0, "upper"): ((0.9, "shoulders"), (1.0, "head")),
    (1, "full"): ((0.2, "hips"), (0.3, "shoulders"), (0.4, "head"), (0.5, "torso"), (0.6, "right_arm"),
                  (0.7, "left_arm"), (0.8, "legs"), (0.9, "right_leg"), (1.0, "left_leg")),
    (1, "upper"): ((0.2, "shoulders"), (0.4, "head"), (0.6, "torso"), (0.8, "right_arm"), (1.0, "left_arm")),
}  # fmt: skip
# Visibility tests of upstream's ``full_body`` (each OpenPose joint or its extra twin) and ``upper_body``.
_FULL_BODY_PAIRS = tuple(zip((2, 3, 4, 5, 6, 7, 10, 11, 13, 14), _extra(8, 7, 6, 9, 10, 11, 1, 0, 4, 5)))
_LOWER_BODY = (10, 11, 13, 14) + _extra(1, 0, 4, 5)
_UPPER_BODY = (0, 1, 15, 16, 17, 18) + _extra(8, 9, 12, 13, 17, 18)
_MIN_CROP_PX = 4.0  # upstream keeps the original box when the part's box is smaller than this


def choose_crop_region(keypoints_2d: np.ndarray, u: float, level: int = 1) -> str | None:
    """The extreme-crop region for a uniform draw ``u`` in [0, 1), or None when the visible keypoints allow none.

    Args:
        keypoints_2d: (44, 3) pixels + confidence.
        u: the draw.
        level: 0 (hips / shoulders / head) or 1 (also torso, arms and legs).
    """
    conf = keypoints_2d[:, 2]
    if all(conf[a] > 0 or conf[b] > 0 for a, b in _FULL_BODY_PAIRS):
        table = _REGION_TABLES[(level, "full")]
    elif not np.any(conf[list(_LOWER_BODY)] > 0) and np.sum(conf[list(_UPPER_BODY)] > 0) >= 2:
        table = _REGION_TABLES[(level, "upper")]
    else:
        return None
    return next(name for bound, name in table if u < bound or bound == 1.0)


def region_box(keypoints_2d: np.ndarray, region: str) -> tuple[float, float, float] | None:
    """Square box (centre x, centre y, side) px around the keypoints ``region`` keeps, or None with fewer than 2.

    The side is ``margin × 1.2 × max(extent x, extent y)`` of the kept visible keypoints.
    """
    hidden, margin = CROP_REGIONS[region]
    kp = keypoints_2d.copy()
    kp[list(hidden)] = 0.0
    visible = kp[kp[:, 2] > 0, :2]
    if kp[:, 2].sum() <= 1 or visible.shape[0] == 0:
        return None
    lo, hi = visible.min(axis=0), visible.max(axis=0)
    centre = (lo + hi) / 2.0
    return float(centre[0]), float(centre[1]), float(margin * 1.2 * (hi - lo).max())


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
    extreme_crop_rate: float = 0.1  # probability of an extreme crop to a body part (EXTREME_CROP_AUG_RATE)
    extreme_crop_level: int = 1  # 0: hips/shoulders/head; 1: also torso, arms, legs (EXTREME_CROP_AUG_LEVEL)


@dataclass(frozen=True)
class AugmentParams:
    """One draw of the augmentation."""

    scale: float  # box scale factor
    rot_deg: float  # in-plane rotation, degrees
    flip: bool  # horizontal flip
    color: tuple[float, float, float]  # per-channel gain (RGB)
    tx: float  # box shift, fraction of its width
    ty: float  # box shift, fraction of its height
    extreme_crop: float = -1.0  # uniform draw choosing the extreme-crop region; < 0: no extreme crop
    extreme_crop_level: int = 1  # region table (see ``choose_crop_region``)


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
    extreme = float(rng.random()) if rng.random() < config.extreme_crop_rate else -1.0
    return AugmentParams(scale=scale, rot_deg=rot, flip=flip, color=color, tx=tx, ty=ty,  # type: ignore[arg-type]
                         extreme_crop=extreme, extreme_crop_level=config.extreme_crop_level)  # fmt: skip


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
    if params.extreme_crop >= 0:
        region = choose_crop_region(person["keypoints_2d"], params.extreme_crop, params.extreme_crop_level)
        box = region_box(person["keypoints_2d"], region) if region is not None else None
        if box is not None and box[2] >= _MIN_CROP_PX:
            cx, cy, size = box
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
