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


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian: radius int(truncate*sigma + 0.5), normalised samples of exp(-x^2 / 2 sigma^2)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 / (sigma * sigma) * x * x)
    return kernel / kernel.sum()


def _antialias_for_crop(image_bgr: np.ndarray, center: np.ndarray, size: float, sigma: float) -> np.ndarray:
    """The official blur, ``skimage.filters.gaussian(img, sigma, channel_axis=2, preserve_range=True)`` (scipy
    ``gaussian_filter``, truncate 4, mode 'nearest', float64), computed only where the warp will sample.

    The warp reads the 2x2 neighbours of points inside the crop square, so pixels farther than a few pixels from
    it never matter; they stay 0 in the returned full-size float64 image. The blurred window is computed from a
    margin of one kernel radius, so inside it the values equal the full-image blur (to ~1e-13, the order of the
    two separable passes); at the image border cv2's BORDER_REPLICATE is scipy's 'nearest'. This makes the blur
    branch about the cost of the window instead of the whole frame (1080p video, close-up people).
    """
    height, width = image_bgr.shape[:2]
    kernel = _gaussian_kernel(sigma)
    radius = len(kernel) // 2
    half = size / 2.0
    x0, x1 = max(0, int(np.floor(center[0] - half)) - 2), min(width, int(np.ceil(center[0] + half)) + 3)
    y0, y1 = max(0, int(np.floor(center[1] - half)) - 2), min(height, int(np.ceil(center[1] + half)) + 3)
    out = np.zeros(image_bgr.shape, dtype=np.float64)
    if x0 >= x1 or y0 >= y1:
        return out
    mx0, mx1 = max(0, x0 - radius), min(width, x1 + radius)
    my0, my1 = max(0, y0 - radius), min(height, y1 + radius)
    window = image_bgr[my0:my1, mx0:mx1].astype(np.float64)
    blurred = cv2.sepFilter2D(window, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    out[y0:y1, x0:x1] = blurred[y0 - my0 : y1 - my0, x0 - mx0 : x1 - mx0]
    return out


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
        image = _antialias_for_crop(image_bgr, center, float(box_size), sigma=(downsampling - 1) / 2)
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
