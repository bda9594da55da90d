"""Image decode, person crop (the official ViTDet preprocessing) and camera maths."""

from .camera import (
    FOCAL_LENGTH,
    cam_crop_to_cam_t,
    cam_crop_to_full,
    cam_t_from_pelvis,
    focal_length_px,
    pelvis_from_cam_t,
    perspective_projection,
)
from .crop import BBOX_SHAPE, CROP_SIZE, IMAGE_MEAN, IMAGE_STD, PersonCrop, crop_box_square, crop_person
from .decode import (
    DEFAULT_MAX_IMAGE_PIXELS,
    IMAGE_ENCODINGS,
    ImageDecodeError,
    ImageTooLargeError,
    decode_image,
    image_size_from_header,
)

__all__ = [
    "BBOX_SHAPE",
    "CROP_SIZE",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "FOCAL_LENGTH",
    "IMAGE_ENCODINGS",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "ImageDecodeError",
    "ImageTooLargeError",
    "PersonCrop",
    "cam_crop_to_cam_t",
    "cam_crop_to_full",
    "cam_t_from_pelvis",
    "crop_box_square",
    "crop_person",
    "decode_image",
    "focal_length_px",
    "image_size_from_header",
    "pelvis_from_cam_t",
    "perspective_projection",
]
