"""The official person crop (TokenHMR / 4D-Humans ``ViTDetDataset`` with ``gen_trans_from_patch_cv``), reproduced
step by step: float32 box maths, a square of side max(h, w*256/192) with no margin, the anti-alias blur when
downsampling by more than 2.2x, an affine warp from three points, BGR->RGB and ImageNet normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["PersonCrop", "crop_person", "crop_box_square", "CROP_SIZE", "IMAGE_MEAN", "IMAGE_STD", "BBOX_SHAPE"]

CROP_SIZE = 256  # MODEL.IMAGE_SIZE
BBOX_SHAPE = (192, 256)  # MODEL.BBOX_SHAPE, (width, height) target aspect of the ViT window
IMAGE_MEAN = (0.485, 0.456, 0.406)  # MODEL.IMAGE_MEAN (RGB)
IMAGE_STD = (0.229, 0.224, 0.225)  # MODEL.IMAGE_STD (RGB)


@dataclass(frozen=True)
class PersonCrop:
    """One preprocessed person.

    Attributes:
        img: (3, 256, 256) float32 normalised RGB crop, the network input.
        box_center: (2,) float32 centre (x, y) of the detector box in image pixels.
        box_size: side of the square crop in image pixels (float32 value).
    """

    img: np.ndarray
    box_center: np.ndarray
    box_size: float


def _validate_image(image_bgr: np.ndarray) -> None:
    if not isinstance(image_bgr, np.ndarray):
        raise TypeError(f"image_bgr must be a numpy array, got {type(image_bgr).__name__}")
    if image_bgr.dtype != np.uint8:
        raise ValueError(
            f"image_bgr must be uint8 (as cv2.imread returns), got {image_bgr.dtype}; convert with "
            "np.clip(img, 0, 255).astype(np.uint8)"
        )
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(
            f"image_bgr must be (H, W, 3) BGR, got shape {image_bgr.shape}; convert grey or BGRA images with "
            "cv2.cvtColor first"
        )
    if image_bgr.shape[0] < 1 or image_bgr.shape[1] < 1:
        raise ValueError(f"image_bgr is empty: shape {image_bgr.shape}")


def crop_box_square(bbox_xyxy: np.ndarray, image_wh: tuple[int, int] | None = None) -> tuple[np.ndarray, np.float32]:
    """Box centre and square crop side as the official code computes them (float32).

    Args:
        bbox_xyxy: (4,) x1, y1, x2, y2 in image pixels.
        image_wh: (W, H) of the image; when given, a box entirely outside it is an error.

    Returns:
        (center (2,) float32, box_size float32), box_size = max(h, w * 256/192).
    """
    box = np.asarray(bbox_xyxy)
    if box.shape != (4,):
        raise ValueError(f"bbox_xyxy must have shape (4,) as x1, y1, x2, y2, got {box.shape}")
    if not np.all(np.isfinite(box.astype(np.float64))):
        raise ValueError(f"bbox_xyxy must be finite, got {box.tolist()}")
    box = box.astype(np.float32)
    if not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(
            f"bbox_xyxy {box.tolist()} is degenerate: expected x2 > x1 and y2 > y1 (x1, y1, x2, y2 order, pixels)"
        )
    if image_wh is not None:
        width, height = image_wh
        if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
            raise ValueError(
                f"bbox_xyxy {box.tolist()} lies entirely outside the {width}x{height} image; boxes are x1, y1, x2, "
                "y2 in pixels of this image"
            )
    # Official: center = (xy2 + xy1) / 2, scale = (xy2 - xy1) / 200, then size = scale * 200 (float32 round trip).
    center = (box[2:4] + box[0:2]) / np.float32(2.0)
    scale = (box[2:4] - box[0:2]) / np.float32(200.0)
    wh = scale * np.float32(200.0)
    w, h = wh[0], wh[1]
    target_w, target_h = BBOX_SHAPE
    # expand_to_aspect_ratio: grow the short side to the 192:256 aspect, then take the max side.
    if h / w < target_h / target_w:
        h_new = max(w * target_h / target_w, h)
        w_new = w
    else:
        h_new = h
        w_new = max(h * target_w / target_h, w)
    box_size = np.float32(max(np.float32(w_new), np.float32(h_new)))
    return center.astype(np.float32), box_size


def _affine_to_crop(center: np.ndarray, size: float) -> np.ndarray:
    """Official ``gen_trans_from_patch_cv`` with scale 1 and rotation 0: maps the square onto the 256 crop."""
    cx, cy = float(center[0]), float(center[1])
    half = float(size) * 0.5
    dst_half = CROP_SIZE * 0.5
    src = np.array([[cx, cy], [cx, cy + half], [cx + half, cy]], dtype=np.float32)
    dst = np.array(
        [[dst_half, dst_half], [dst_half, dst_half + dst_half], [dst_half + dst_half, dst_half]], dtype=np.float32
    )
    return cv2.getAffineTransform(src, dst)


def crop_person(image_bgr: np.ndarray, bbox_xyxy: np.ndarray) -> PersonCrop:
    """Crops and normalises one person exactly as the official ``ViTDetDataset`` does.

    Args:
        image_bgr: (H, W, 3) uint8 BGR image (cv2 order).
        bbox_xyxy: (4,) detector box x1, y1, x2, y2 in pixels; it may extend past the image (zero padding),
            but not lie entirely outside it.

    Returns:
        :class:`PersonCrop`.

    Raises:
        TypeError, ValueError: wrong image dtype/shape/channels, or a degenerate or outside box.
    """
    _validate_image(image_bgr)
    height, width = image_bgr.shape[:2]
    center, box_size = crop_box_square(bbox_xyxy, (width, height))
    image = image_bgr
    downsampling = box_size / CROP_SIZE / 2.0
    if downsampling > 1.1:
        # Official anti-aliasing: skimage gaussian, default truncate 4.0, float64 result kept unrounded.
        from skimage.filters import gaussian

        image = gaussian(image, sigma=(downsampling - 1) / 2, channel_axis=2, preserve_range=True)
    trans = _affine_to_crop(center, box_size)
    patch = cv2.warpAffine(
        image,
        trans,
        (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    rgb = patch[:, :, ::-1].transpose(2, 0, 1)
    img = rgb.astype(np.float32)
    mean = 255.0 * np.asarray(IMAGE_MEAN, dtype=np.float64)
    std = 255.0 * np.asarray(IMAGE_STD, dtype=np.float64)
    out = np.empty_like(img)
    for c in range(3):
        # As the official loop: float64 numpy scalars, so numpy >= 2 computes in float64, stored as float32.
        out[c] = (img[c] - mean[c]) / std[c]
    return PersonCrop(img=out, box_center=center, box_size=float(box_size))
