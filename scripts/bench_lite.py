"""Lite engine benchmark: IK accuracy on synthetic poses and the time of each stage, printed as tables.

    .venv/bin/python scripts/bench_lite.py [--poses 200] [--images 10]

Accuracy: random valid poses on the mannequin skeleton (the generator of ``tests/lite/test_lite_ik.py``) →
MediaPipe-layout landmarks, clean and with Gaussian noise → IK → the angle between each observed direction before
and after ("limb bones": the 8 limb bones + hip and shoulder lines; "all dirs" adds hand, foot and head directions
between landmarks a few cm apart, which noise of that size turns anywhere). Timing: IK per person, the MediaPipe
worker per image, and the whole engine per image (astronaut, 512x512); the ratio column compares each stage with
the worker (the baseline, MediaPipe itself).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def _generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lite_ik_tests", REPO_ROOT / "tests/lite/test_lite_ik.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", type=int, default=200)
    parser.add_argument("--images", type=int, default=10)
    args = parser.parse_args()

    from backend.lite import LiteEngine, lite_available, solve_ik

    gen = _generator()
    rng = np.random.default_rng(0)
    poses = [gen.random_pose(rng) for _ in range(args.poses)]
    print(f"IK accuracy, {args.poses} random valid poses (degrees between observed directions, IK vs input)")
    print(f"{'landmark noise':>15} | {'limb bones median':>17} | {'limb bones max':>14} | {'all dirs max':>12}")
    bones = [f"{p}->{q}" for p, q in gen.LONG_BONES]
    ik_seconds = 0.0
    for noise_m in (0.0, 0.01, 0.03):
        limb, everything = [], []
        for local in poses:
            landmarks = gen.landmarks_of(local)
            observed = landmarks + rng.normal(scale=noise_m, size=landmarks.shape) if noise_m else landmarks
            start = time.perf_counter()
            result = solve_ik(observed, gen.SKELETON)
            ik_seconds += time.perf_counter() - start
            errors = gen.direction_errors_deg(observed, gen.landmarks_of(result.rot_local))
            limb.extend(errors[k] for k in bones)
            everything.extend(errors.values())
        row = f"{noise_m * 100:>12.0f} cm | {np.median(limb):>17.3f} | {np.max(limb):>14.3f}"
        print(f"{row} | {np.max(everything):>12.3f}")
    ik_ms = ik_seconds / (3 * len(poses)) * 1000

    ok, reason = lite_available()
    if not ok:
        print(f"\ntiming skipped: {reason}")
        return 0
    import skimage.data

    image_bgr = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    with LiteEngine(models_dir=Path(tempfile.mkdtemp())) as engine:
        engine.reconstruct(image_bgr)  # warm up
        start = time.perf_counter()
        for _ in range(args.images):
            engine._worker.detect(np.ascontiguousarray(image_bgr[:, :, ::-1]))
        worker_ms = (time.perf_counter() - start) / args.images * 1000
        start = time.perf_counter()
        for _ in range(args.images):
            engine.reconstruct(image_bgr)
        engine_ms = (time.perf_counter() - start) / args.images * 1000
    print("\nTime per call (astronaut 512x512, one person)")
    print(f"{'stage':>28} | {'ms':>8} | {'vs worker':>9}")
    for name, ms in (("MediaPipe worker (baseline)", worker_ms), ("IK (one person)", ik_ms),
                     ("whole lite engine", engine_ms)):
        print(f"{name:>28} | {ms:>8.1f} | {ms / worker_ms:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
