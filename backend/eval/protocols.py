"""Evaluation protocols that change what the model sees: the ground-truth box, a detected box, and truncated
("boundary crop") images.

The truncation protocol keeps the top ``1 - fraction`` of the person box and blanks the rest of the image below it,
the way a framing that cuts a person at the waist or thighs does. TokenHMR's crop-robustness study (Table 2)
evaluates such 30 % and 50 % crops; the paper's exact cropping code is not public in the snapshot we read, so this
definition is ours and is stated in every report it produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CropProtocol", "apply_crop_protocol", "CROP_PROTOCOLS"]


@dataclass(frozen=True)
class CropProtocol:
    """How much of the person is cut away from the bottom of the box before inference.

    Attributes:
        name: label used in reports ("full", "crop30", "crop50").
        fraction: share of the box height removed from the bottom, in [0, 1).
    """

    name: str
    fraction: float


CROP_PROTOCOLS: dict[str, CropProtocol] = {
    "full": CropProtocol("full", 0.0),
    "crop30": CropProtocol("crop30", 0.3),
    "crop50": CropProtocol("crop50", 0.5),
}


def apply_crop_protocol(image_bgr: np.ndarray, bbox_xyxy: np.ndarray, protocol: CropProtocol) -> tuple[np.ndarray, np.ndarray]:
    """Truncates the person: everything below the kept part of the box becomes black, and the box shrinks.

    Args:
        image_bgr: (H, W, 3) uint8 image.
        bbox_xyxy: (4,) ground-truth person box.
        protocol: the crop protocol.
    Returns:
        The (H, W, 3) truncated image (a copy when changed) and the (4,) box of the visible part.
    """
    if not 0.0 <= protocol.fraction < 1.0:
        raise ValueError(f"crop fraction must be in [0, 1); got {protocol.fraction}")
    box = np.asarray(bbox_xyxy, dtype=np.float64).reshape(4).copy()
    if protocol.fraction == 0.0:
        return image_bgr, box
    cut_y = box[1] + (1.0 - protocol.fraction) * (box[3] - box[1])
    out = image_bgr.copy()
    out[int(np.ceil(cut_y)):] = 0
    box[3] = cut_y
    return out, box
