#!/usr/bin/env python
"""Per-person preprocessing cost on the CPU: image decode and the official crop, with and without the blur branch.

Usage:
    .venv/bin/python scripts/bench_preprocess.py              # 1080p frame, 5 timed runs per row
    .venv/bin/python scripts/bench_preprocess.py --width 3840 --height 2160 --iters 3

The "official" row runs the blur exactly as the official code does (skimage Gaussian over the whole frame, then the
warp); ``crop_person`` blurs only the window the warp samples. Ratios are against the official row of the same run.
No assertions: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import cv2
import numpy as np

from backend.vision import crop_box_square, crop_person, decode_image
from backend.vision.crop import _affine_to_crop


def _official_blur_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    from skimage.filters import gaussian

    center, size = crop_box_square(box)
    blurred = gaussian(image, sigma=(size / 512.0 - 1) / 2, channel_axis=2, preserve_range=True)
    return cv2.warpAffine(blurred, _affine_to_crop(center, size), (256, 256), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _time(fn: Callable[[], object], iters: int) -> float:
    fn()  # warm-up (imports, allocations)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    w, h = args.width, args.height
    rng = np.random.default_rng(0)
    coarse = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    frame = cv2.add(coarse // 2, rng.integers(0, 64, (h, w, 3), dtype=np.uint8))
    jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    close_up = np.array([0.35 * w, 0.05 * h, 0.65 * w, 0.95 * h], dtype=np.float32)  # takes the blur branch
    far = np.array([0.45 * w, 0.4 * h, 0.5 * w, 0.6 * h], dtype=np.float32)  # small person: no blur
    _, close_size = crop_box_square(close_up)
    rows = [
        ("official crop, close-up (whole-frame blur)", lambda: _official_blur_crop(frame, close_up)),
        ("crop_person, close-up (windowed blur)", lambda: crop_person(frame, close_up)),
        ("crop_person, far person (no blur)", lambda: crop_person(frame, far)),
        (f"decode_image jpeg {w}x{h}", lambda: decode_image(jpeg, "jpeg")),
    ]
    print(f"frame {w}x{h}, close-up square {close_size:.0f} px (sigma {(close_size / 512 - 1) / 2:.2f}), "
          f"{args.iters} runs per row, {cv2.getNumThreads()} OpenCV threads")
    print(f"{'operation':<46} {'ms':>9} {'per s':>9} {'vs official':>12}")
    baseline = None
    for name, fn in rows:
        sec = _time(fn, args.iters)
        baseline = baseline or sec
        print(f"{name:<46} {sec * 1e3:9.2f} {1.0 / sec:9.1f} {baseline / sec:11.2f}x")


if __name__ == "__main__":
    main()
