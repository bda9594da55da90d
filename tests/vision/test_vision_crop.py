"""The official person crop against preprocess.npz, and input validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.vision import crop_box_square, crop_person


@pytest.mark.parametrize("case", [0, 1])
def test_matches_official_crop(parity_fixture: Path, case: int) -> None:
    ref = np.load(parity_fixture / "preprocess.npz")
    crop = crop_person(ref[f"raw_image_{case}"], ref[f"bbox_xyxy_{case}"])
    expected = ref[f"img_{case}"]
    diff = np.abs(crop.img - expected).max()
    assert crop.img.shape == (3, 256, 256) and crop.img.dtype == np.float32, f"{crop.img.shape} {crop.img.dtype}"
    np.testing.assert_allclose(crop.img, expected, rtol=0, atol=1e-5, err_msg=f"case {case}: max |diff| {diff:.3g}")
    np.testing.assert_array_equal(crop.box_center, ref[f"box_center_{case}"])
    assert crop.box_size == float(ref[f"box_size_{case}"]), f"box_size {crop.box_size} vs {ref[f'box_size_{case}']}"


def test_square_side_and_centre() -> None:
    center, size = crop_box_square(np.array([100.0, 50.0, 160.0, 250.0]))  # w 60, h 200: tall box keeps h
    assert size == pytest.approx(200.0) and center.tolist() == [130.0, 150.0], f"{center} {size}"
    _, size = crop_box_square(np.array([0.0, 0.0, 300.0, 100.0]))  # wide box: side = w * 256 / 192
    assert size == pytest.approx(400.0, rel=1e-6), f"wide box side {size}"


def _stripes(h: int = 120, w: int = 160) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = 200  # blue channel in BGR
    img[:, w // 2 :, 2] = 100  # red on the right half
    return img


def test_channels_are_rgb_and_normalised() -> None:
    crop = crop_person(_stripes(), np.array([40.0, 30.0, 120.0, 90.0]))
    centre = crop.img[:, 128, 60]  # left of the middle: pure blue 200
    expected = (np.array([0.0, 0.0, 200.0]) - 255 * np.array([0.485, 0.456, 0.406])) / (255 * np.array([0.229, 0.224, 0.225]))
    np.testing.assert_allclose(centre, expected, atol=1e-5, err_msg="BGR->RGB then ImageNet normalisation")


def test_box_partly_outside_pads_with_zero() -> None:
    crop = crop_person(_stripes(), np.array([-60.0, 10.0, 40.0, 110.0]))
    black = (0.0 - 255 * 0.485) / (255 * 0.229)
    assert crop.img[0, 128, 5] == pytest.approx(black, abs=1e-5), f"padding should be black, got {crop.img[0, 128, 5]}"


@pytest.mark.parametrize(
    ("image", "box", "error", "match"),
    [
        (np.zeros((10, 10, 3), np.float32), [1, 1, 5, 5], ValueError, "must be uint8"),
        (np.zeros((10, 10), np.uint8), [1, 1, 5, 5], ValueError, r"\(H, W, 3\) BGR"),
        (np.zeros((10, 10, 4), np.uint8), [1, 1, 5, 5], ValueError, r"\(H, W, 3\) BGR"),
        ([[0]], [1, 1, 5, 5], TypeError, "numpy array"),
        (np.zeros((10, 10, 3), np.uint8), [5, 1, 5, 5], ValueError, "degenerate"),
        (np.zeros((10, 10, 3), np.uint8), [5, 5, 1, 8], ValueError, "degenerate"),
        (np.zeros((10, 10, 3), np.uint8), [1, 2, 3], ValueError, r"shape \(4,\)"),
        (np.zeros((10, 10, 3), np.uint8), [1, np.nan, 3, 4], ValueError, "finite"),
        (np.zeros((10, 10, 3), np.uint8), [20, 1, 30, 5], ValueError, "entirely outside the 10x10 image"),
        (np.zeros((10, 10, 3), np.uint8), [-9, -9, 0, 0], ValueError, "entirely outside"),
    ],
)
def test_bad_input(image: np.ndarray, box: list, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        crop_person(image, np.asarray(box, dtype=np.float64))


def test_large_boxes_are_antialiased() -> None:
    # A 1-pixel checkerboard shrunk ~5x: the official blur averages it to grey; a plain warp would alias.
    yy, xx = np.mgrid[0:1200, 0:1200]
    board = (((xx + yy) % 2) * 255).astype(np.uint8)
    image = np.repeat(board[:, :, None], 3, axis=2)
    crop = crop_person(image, np.array([100.0, 0.0, 1000.0, 1200.0]))
    centre = crop.img[0, 64:192, 64:192] * 0.229 * 255 + 0.485 * 255  # back to 0..255
    assert centre.std() < 10.0, f"antialiased crop should be near-uniform grey, std {centre.std():.1f}"
    assert abs(centre.mean() - 127.5) < 5.0, f"mean grey level {centre.mean():.1f}"
    small = crop_person(image, np.array([500.0, 500.0, 600.0, 600.0]))  # downsampling < 2.2: no blur
    small_std = small.img[0].std() * 0.229 * 255
    assert small_std > 30.0, f"a small box is warped without blur and keeps the contrast, std {small_std:.1f}"
