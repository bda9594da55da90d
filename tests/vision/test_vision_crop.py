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
    mean, std = 255 * np.array([0.485, 0.456, 0.406]), 255 * np.array([0.229, 0.224, 0.225])
    expected = (np.array([0.0, 0.0, 200.0]) - mean) / std
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


def _official_blur_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The official recipe literally: skimage blur of the whole image, then the same warp and normalisation."""
    import cv2
    from skimage.filters import gaussian

    from backend.vision.crop import _affine_to_crop

    center, size = crop_box_square(box)
    blurred = gaussian(image, sigma=(size / 512.0 - 1) / 2, channel_axis=2, preserve_range=True)
    patch = cv2.warpAffine(blurred, _affine_to_crop(center, size), (256, 256), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rgb = patch[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    mean, std = 255.0 * np.array([0.485, 0.456, 0.406]), 255.0 * np.array([0.229, 0.224, 0.225])
    return np.stack([(rgb[c] - mean[c]) / std[c] for c in range(3)]).astype(np.float32)


@pytest.mark.parametrize(
    "box",
    [
        [300.0, 20.0, 700.0, 700.0],  # inside, sigma ~0.4
        [-200.0, -100.0, 500.0, 760.0],  # leaves the image on the left and top
        [600.0, 100.0, 1100.0, 900.0],  # leaves on the right and bottom
        [0.0, 0.0, 960.0, 720.0],  # whole frame, square wider than the image, sigma ~0.9
        [100.0, -1500.0, 900.0, 2300.0],  # huge box: sigma ~3.2, kernel radius 13
    ],
)
def test_blur_branch_equals_full_image_skimage_blur(box: list) -> None:
    rng = np.random.default_rng(3)
    image = cv2_smooth_noise(rng, 720, 960)
    box = np.asarray(box, dtype=np.float32)
    _, size = crop_box_square(box)
    assert size / 512.0 > 1.1, f"test box must take the blur branch, square side {size}"
    ours = crop_person(image, box).img
    ref = _official_blur_crop(image, box)
    diff = np.abs(ours - ref).max()
    assert diff < 1e-5, f"windowed blur differs from the whole-image skimage blur by {diff:.3g}"


def cv2_smooth_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Noise with structure at several scales, so a wrong blur window or kernel shows up."""
    import cv2

    coarse = cv2.resize(rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8), (w, h))
    fine = rng.integers(0, 64, (h, w, 3), dtype=np.uint8)
    return cv2.add(coarse // 2, fine)


@pytest.mark.parametrize(("center", "sigma"), [((480.0, 360.0), 3.0), ((20.0, 700.0), 1.7), ((900.0, 30.0), 0.6)])
def test_windowed_blur_matches_skimage_inside_the_window(center: tuple, sigma: float) -> None:
    from skimage.filters import gaussian

    from backend.vision.crop import _antialias_for_crop

    image = cv2_smooth_noise(np.random.default_rng(5), 720, 960)
    out = _antialias_for_crop(image, np.array(center), 200.0, sigma)
    ref = gaussian(image, sigma=sigma, channel_axis=2, preserve_range=True)
    x0, x1 = max(0, int(center[0] - 100) - 2), min(960, int(center[0] + 100) + 3)
    y0, y1 = max(0, int(center[1] - 100) - 2), min(720, int(center[1] + 100) + 3)
    diff = np.abs(out[y0:y1, x0:x1] - ref[y0:y1, x0:x1]).max()
    assert diff < 1e-9, f"blur inside the sampled window differs from skimage by {diff:.3g}"
    assert np.count_nonzero(out[:, : max(0, x0 - 1)]) == 0, "pixels left of the window are never computed"
