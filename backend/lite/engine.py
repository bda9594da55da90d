"""The lite engine: MediaPipe BlazePose landmarks (worker process) → IK → SMPL pose, in TokenHMR's result schema.

No licensed files: the rest skeleton is the installed SMPL body's when present, else the built-in mannequin's,
so the pose and ``cam_t_full`` fit the body the server sends in ``body_model``. Shape is not estimated
(``betas`` are zero).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from backend.body import rest_body
from backend.lite.ik import solve_ik
from backend.lite.placement import cam_crop_from_full, fit_translation, keypoints_44, project_points
from backend.lite.process import LandmarkObservation, LiteUnavailableError, LiteWorker, find_lite_python
from backend.lite.skeleton import Skeleton, make_skeleton, posed_markers
from backend.results import PersonResult

__all__ = ["LiteEngine", "lite_available", "make_lite_engine", "person_from_landmarks", "NUM_BETAS"]

logger = logging.getLogger(__name__)

NUM_BETAS = 10
MIN_VISIBILITY = 0.5  # landmarks below this MediaPipe visibility do not pull the 2D fit or shape the box
LOW_VISIBILITY_WEIGHT = 0.05  # relative weight in the 2D fit of a landmark MediaPipe thinks is hidden
# Per-landmark weights of the 2D fit: the 11 face points would otherwise outvote the trunk and limbs, and the
# face and hand markers' placement on the skeleton is the least certain.
_FIT_WEIGHTS = np.array([0.15] * 11 + [1.0] * 6 + [0.3] * 6 + [1.0] * 6 + [0.5] * 4)
BOX_MARGIN = 0.05  # the box around visible landmarks grows by this fraction per side (3x upwards for the head)


def lite_available() -> tuple[bool, str]:
    """Whether the lite engine can start here (without starting it), and why not."""
    try:
        python = find_lite_python()
    except LiteUnavailableError as e:
        return False, str(e)
    venv = python.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        found = list(venv.glob("lib/python3*/site-packages/mediapipe/__init__.py"))
        found += list(venv.glob("Lib/site-packages/mediapipe/__init__.py"))
        if not found:
            return False, (
                f"lite engine: {venv} has no mediapipe. Fix: run `bash scripts/setup.sh` (installs "
                "requirements/lite.txt, mediapipe==0.10.21, into .venv-lite)"
            )
    return True, f"mediapipe BlazePose + IK via {python}"


def _box_from_landmarks(obs: LandmarkObservation, image_wh: tuple[int, int]) -> np.ndarray:
    visible = obs.visibility > MIN_VISIBILITY
    points = obs.image_px[visible] if visible.sum() >= 4 else obs.image_px
    (x1, y1), (x2, y2) = points.min(axis=0), points.max(axis=0)
    gx, gy = BOX_MARGIN * (x2 - x1), BOX_MARGIN * (y2 - y1)
    box = np.array([x1 - gx, y1 - 3 * gy, x2 + gx, y2 + gy])
    box[[0, 2]] = box[[0, 2]].clip(0, image_wh[0])
    box[[1, 3]] = box[[1, 3]].clip(0, image_wh[1])
    return box


def person_from_landmarks(
    obs: LandmarkObservation,
    skeleton: Skeleton,
    image_wh: tuple[int, int],
    bbox_xyxy: np.ndarray | None = None,
    score: float | None = None,
) -> PersonResult:
    """One ``PersonResult`` (engine "lite") from MediaPipe's landmarks of one person.

    Args:
        obs: the worker's landmarks for the person.
        skeleton: rest skeleton with markers (``make_skeleton``).
        image_wh: (W, H) of the full image.
        bbox_xyxy: (4,) the person box when the caller gave one; else the landmarks' extent.
        score: confidence; default mean landmark visibility (1.0 for a caller's box, as for other engines).
    """
    pose = solve_ik(obs.world, skeleton)
    markers = posed_markers(skeleton, pose.joints, pose.rot_global)
    weights = _FIT_WEIGHTS * np.where(obs.visibility > MIN_VISIBILITY, 1.0, LOW_VISIBILITY_WEIGHT) * obs.visibility
    cam_t_full = fit_translation(markers[:33], obs.image_px, weights, image_wh)
    box = _box_from_landmarks(obs, image_wh) if bbox_xyxy is None else np.asarray(bbox_xyxy, dtype=np.float64)
    if score is None:
        score = 1.0 if bbox_xyxy is not None else float(obs.visibility.mean())
    return PersonResult(
        engine="lite",
        bbox_xyxy=box,
        score=float(score),
        global_orient=pose.global_orient,
        body_pose=pose.body_pose,
        betas=np.zeros(NUM_BETAS),
        cam_crop=cam_crop_from_full(cam_t_full, box, image_wh),
        cam_t_full=cam_t_full,
        focal_length_px=float(5000.0 / 256.0 * max(image_wh)),
        keypoints_2d=project_points(keypoints_44(pose.joints, markers), cam_t_full, image_wh),
    )


class LiteEngine:
    """The ``Engine`` (``backend.engine``) that runs without licensed files. Call :meth:`close` when done.

    Args:
        detector: how people are found when no boxes are given: "auto" or "mediapipe" use BlazePose's own
            detector on the whole image (one person); another ``backend.vision.make_detector`` name finds boxes
            first and then fits one person per box.
        models_dir: where an installed SMPL body is looked for (its rest skeleton is used when present).
        python: the lite venv's interpreter (default ``.venv-lite`` or ``$TOKENMOCAP_LITE_PYTHON``).
    """

    name = "lite"

    def __init__(self, detector: str = "auto", models_dir: Path | None = None, python: Path | None = None) -> None:
        from backend.paths import models_dir as default_models_dir

        models_dir = models_dir if models_dir is not None else default_models_dir()
        body = rest_body(models_dir=models_dir)
        self.body_source = body.source
        self.skeleton = make_skeleton(body.joints, body.parents)
        self._detector = None
        if detector not in ("auto", "mediapipe"):
            from backend.vision.detect import make_detector

            self._detector = make_detector(detector, models_dir)  # <models>/detectors holds torchvision weights
        self._worker = LiteWorker(python)
        self._lock = threading.Lock()  # one request at a time on the worker's pipe
        logger.info("lite engine: mediapipe %s, %s skeleton", self._worker.mediapipe_version, self.body_source)

    def reconstruct(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray | None = None) -> list[PersonResult]:
        """People in one (H, W, 3) uint8 BGR image; boxes (N, 4) in pixels, else the configured detector.

        Returns one result per box in box order, leaving out (and logging) boxes in which MediaPipe found nobody
        or whose landmarks are degenerate (coincident points, a fit behind the camera).
        """
        image = np.asarray(image_bgr)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"lite engine: expected an (H, W, 3) uint8 BGR image, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        scores = None
        if boxes_xyxy is None and self._detector is not None:
            boxes_xyxy, scores = self._detector.detect(image)
        boxes = None if boxes_xyxy is None else np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        if boxes is not None and boxes.shape[0] == 0:
            return []
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        with self._lock:
            people = self._worker.detect(rgb, boxes)
        results = []
        for i, obs in enumerate(people):
            if obs is None:
                logger.debug("lite engine: no person found in %s", "the image" if boxes is None else f"box {i}")
                continue
            box = None if boxes is None else boxes[i]
            score = None if scores is None else float(scores[i])
            try:
                results.append(person_from_landmarks(obs, self.skeleton, (width, height), box, score))
            except ValueError as e:  # degenerate landmarks: drop this person, keep the others
                logger.warning("lite engine: person %d left out: %s", i, e)
        return results

    def reconstruct_batch(
        self, images_bgr: Sequence[np.ndarray], boxes_xyxy: Sequence[np.ndarray | None] | None = None
    ) -> list[list[PersonResult]]:
        """``reconstruct`` per image (MediaPipe runs one image at a time)."""
        boxes = list(boxes_xyxy) if boxes_xyxy is not None else [None] * len(images_bgr)
        if len(boxes) != len(images_bgr):
            raise ValueError(f"lite engine: {len(images_bgr)} images but {len(boxes)} box sets")
        return [self.reconstruct(image, b) for image, b in zip(images_bgr, boxes)]

    def close(self) -> None:
        """Stop the worker process (and the detector's, if it has one)."""
        self._worker.close()
        close = getattr(self._detector, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> "LiteEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_lite_engine(detector: str = "auto", models_dir: Path | None = None) -> LiteEngine:
    """``backend.engine.make_engine("lite")``'s entry point. Raises ``LiteUnavailableError`` with the fix."""
    available, reason = lite_available()
    if not available:
        raise LiteUnavailableError(reason)
    return LiteEngine(detector=detector, models_dir=models_dir)
