"""Pure rotation maths shared by the backend (torch tensors)."""

from .rotations import (
    axis_angle_to_quaternion,
    axis_angle_to_rotmat,
    quaternion_to_axis_angle,
    quaternion_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_quaternion,
)

__all__ = [
    "axis_angle_to_quaternion",
    "axis_angle_to_rotmat",
    "quaternion_to_axis_angle",
    "quaternion_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quaternion",
]
