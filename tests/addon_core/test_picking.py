"""Clicking a person in the Image Editor: coordinates and box picking."""

from __future__ import annotations

import numpy as np

from blender_addon.core import pick_box, pixel_to_uv, uv_to_pixel


def test_uv_pixel_round_trip_and_orientation():
    assert uv_to_pixel(0.0, 1.0, 640, 480) == (0.0, 0.0), "UV top-left is pixel (0, 0)"
    assert uv_to_pixel(1.0, 0.0, 640, 480) == (640.0, 480.0), "UV bottom-right is pixel (W, H)"
    x, y = uv_to_pixel(*pixel_to_uv(123.5, 77.25, 640, 480), 640, 480)
    assert abs(x - 123.5) < 1e-9 and abs(y - 77.25) < 1e-9, (x, y)


def test_pick_box_prefers_the_smallest_containing_box():
    boxes = np.array([[0, 0, 400, 400], [100, 100, 200, 300], [500, 0, 600, 100]], dtype=float)
    assert pick_box(boxes, 150, 150) == 1, "inside both 0 and 1: the smaller (front) person"
    assert pick_box(boxes, 50, 50) == 0
    assert pick_box(boxes, 550, 50) == 2
    assert pick_box(boxes, 450, 450) == -1, "outside every box"
    assert pick_box(np.zeros((0, 4)), 1, 1) == -1
