"""Person detection behind one interface, chosen by what is installed and overridable.

``PersonDetector.detect(image_bgr) -> (boxes_xyxy (N, 4) float32, scores (N,) float32)``, best first.

* ``torchvision``: Faster R-CNN (COCO) when its weights file is already on disk (torch hub cache or
  ``<models_dir>/detectors/``). Nothing is ever downloaded. The official demo uses Detectron2's ViTDet-H, which
  does not install on a modern stack; a COCO Faster R-CNN gives boxes of the same kind (tight person boxes).
* ``mediapipe``: the BlazePose person detector bundled in mediapipe 0.10.21, run in the lite engine's own process
  (``backend.lite.LiteWorker``, the ``.venv-lite`` environment): offline, no download, one person per image; the
  box is the extent of the visible landmarks plus a margin.
* ``hog``: OpenCV's HOG + linear SVM people detector: offline, no file; coarser boxes, upright people only. OpenCV 5
  moved ``HOGDescriptor`` out of the main package (to contrib), which is why the project depends on
  ``opencv-contrib-python-headless``; with plain ``opencv-python-headless`` 5 this detector is unavailable.
* ``full_frame``: one box covering the whole image (a single, centred person).

``make_detector("auto")`` picks the first available of torchvision, mediapipe, hog, full_frame and logs which.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

__all__ = ["PersonDetector", "TorchvisionDetector", "MediaPipeDetector", "HOGDetector", "FullFrameDetector",
           "make_detector", "DETECTOR_NAMES", "torchvision_weights_path", "available_detectors", "hog_available",
           "mediapipe_available"]

log = logging.getLogger(__name__)

DETECTOR_NAMES = ("auto", "torchvision", "mediapipe", "hog", "full_frame")
PERSON_SCORE_THRESHOLD = 0.5  # the official demo keeps person boxes with score > 0.5
NMS_IOU = 0.5

# (torchvision builder, weights file name as torchvision's download names it)
_TORCHVISION_MODELS = (
    ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"),
    ("fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"),
    ("fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"),
)
_COCO_PERSON = 1


@runtime_checkable
class PersonDetector(Protocol):
    name: str

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """People in a (H, W, 3) uint8 BGR image: ((N, 4) float32 xyxy pixel boxes, (N,) float32 scores in [0, 1]),
        sorted by decreasing score."""
        ...


def _check_image(image_bgr: np.ndarray) -> None:
    if not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 \
            or image_bgr.shape[2] != 3:
        got = f"{image_bgr.dtype} {image_bgr.shape}" if isinstance(image_bgr, np.ndarray) else type(image_bgr).__name__
        raise ValueError(f"detect: expected an (H, W, 3) uint8 BGR image, got {got}")


def _sorted(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    return boxes[order].astype(np.float32).reshape(-1, 4), scores[order].astype(np.float32)


class FullFrameDetector:
    """One box covering the whole image, score 1."""

    name = "full_frame"

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _check_image(image_bgr)
        h, w = image_bgr.shape[:2]
        return np.array([[0.0, 0.0, w, h]], np.float32), np.ones(1, np.float32)


def hog_available() -> bool:
    """Whether this OpenCV build has the HOG people detector (OpenCV 4, or OpenCV 5 with contrib)."""
    return hasattr(cv2, "HOGDescriptor")


def mediapipe_available() -> tuple[bool, str]:
    """Whether the lite engine's mediapipe process can start here, and why not."""
    try:
        from backend.lite.process import LiteUnavailableError, find_lite_python
    except ImportError as e:
        return False, f"backend.lite is not importable: {e}"
    try:
        find_lite_python()
    except LiteUnavailableError as e:
        return False, str(e)
    return True, "mediapipe 0.10.21 in the lite venv"


class MediaPipeDetector:
    """BlazePose's person detector via the lite engine's worker process (one person per image).

    The box spans the landmarks with visibility above ``min_visibility`` (clipped to the image), grown by
    ``margin`` of its size on each side and upwards by a head margin, since landmarks stop at the eyes and ears.
    Scores are the mean landmark visibility. Thread-safe (one request at a time to the worker). Call ``close()``.
    """

    name = "mediapipe"

    def __init__(self, min_visibility: float = 0.5, margin: float = 0.05) -> None:
        from backend.lite.process import LiteWorker

        self._worker = LiteWorker()
        self._lock = threading.Lock()
        self.min_visibility = min_visibility
        self.margin = margin

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _check_image(image_bgr)
        h, w = image_bgr.shape[:2]
        with self._lock:
            (person,) = self._worker.detect(np.ascontiguousarray(image_bgr[:, :, ::-1]))
        if person is None:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        visible = person.visibility > self.min_visibility
        points = person.image_px[visible] if visible.sum() >= 4 else person.image_px
        x1, y1 = points.min(axis=0)
        x2, y2 = points.max(axis=0)
        grow_x, grow_y = self.margin * (x2 - x1), self.margin * (y2 - y1)
        box = np.array([x1 - grow_x, y1 - 3 * grow_y, x2 + grow_x, y2 + grow_y], np.float32)
        box[[0, 2]] = box[[0, 2]].clip(0, w)
        box[[1, 3]] = box[[1, 3]].clip(0, h)
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return box.reshape(1, 4), np.array([person.visibility.mean()], np.float32)

    def close(self) -> None:
        self._worker.close()


class HOGDetector:
    """OpenCV's default HOG people detector (Dalal-Triggs), run on a copy scaled so the longest side is at most
    ``max_side`` pixels, then non-maximum suppression. Scores are the SVM margins through a logistic function.

    Args:
        max_side: working resolution (HOG is slow on large images).
        min_score: minimum score kept, in [0, 1].
    """

    name = "hog"

    def __init__(self, max_side: int = 800, min_score: float = 0.5) -> None:
        self.max_side = max_side
        self.min_score = min_score
        if not hog_available():
            raise RuntimeError(
                f"OpenCV {cv2.__version__} has no HOGDescriptor (OpenCV 5 moved it to contrib); use --detector "
                "mediapipe or full_frame, or install opencv-contrib-python-headless instead of opencv-python-headless")
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _check_image(image_bgr)
        h, w = image_bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(image_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1.0 else image_bgr
        if min(small.shape[:2]) < 128:  # smaller than one HOG window (64 x 128): upsample
            up = 128.0 / min(small.shape[:2])
            small = cv2.resize(small, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
            scale *= up
        rects, weights = self._hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        keep = cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), self.min_score, NMS_IOU)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        boxes = rects[keep] / scale
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return _sorted(boxes, scores[keep])


def _torchvision_weight_folders(models_dir: Path | None) -> list[Path]:
    folders = []
    if models_dir is not None:
        folders.append(Path(models_dir) / "detectors")
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    folders.append(Path(torch_home) / "hub" / "checkpoints")
    return folders


def torchvision_weights_path(models_dir: Path | None = None) -> tuple[str, Path] | None:
    """(builder name, weights file) of the first torchvision COCO detector whose weights are on disk, else None.

    Looks in ``<models_dir>/detectors/`` and in the torch hub cache (``$TORCH_HOME/hub/checkpoints``).
    """
    folders = _torchvision_weight_folders(models_dir)
    for builder, filename in _TORCHVISION_MODELS:
        for folder in folders:
            if (folder / filename).is_file():
                return builder, folder / filename
    return None


class TorchvisionDetector:
    """A torchvision COCO Faster R-CNN built without downloading and loaded strictly from a local file.

    Args:
        builder: torchvision.models.detection builder name (see ``_TORCHVISION_MODELS``).
        weights_path: the state-dict file.
        device: torch device.
        min_score: minimum person score kept.
        max_side: working resolution (longest side, pixels); None keeps the model's own (800 px shortest side),
            a smaller value trades small-person recall for speed on CPU.
    """

    name = "torchvision"

    def __init__(self, builder: str, weights_path: Path, device: str = "cpu",
                 min_score: float = PERSON_SCORE_THRESHOLD, max_side: int | None = None) -> None:
        import torch
        import torchvision.models.detection as detection

        kwargs = {} if max_side is None else {"min_size": max_side, "max_size": max_side}
        model = getattr(detection, builder)(weights=None, weights_backbone=None, num_classes=91, **kwargs)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        self._model = model.eval().to(device)
        self._device = device
        self.min_score = min_score

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        _check_image(image_bgr)
        rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).to(self._device)
        with torch.inference_mode():
            out = self._model([rgb.permute(2, 0, 1).float() / 255.0])[0]
        keep = (out["labels"] == _COCO_PERSON) & (out["scores"] > self.min_score)
        return _sorted(out["boxes"][keep].cpu().numpy(), out["scores"][keep].cpu().numpy())


def available_detectors(models_dir: Path | None = None) -> dict[str, bool]:
    """Which detectors can run here."""
    return {"torchvision": torchvision_weights_path(models_dir) is not None, "mediapipe": mediapipe_available()[0],
            "hog": hog_available(), "full_frame": True}


def make_detector(name: str = "auto", models_dir: Path | None = None, device: str = "cpu") -> PersonDetector:
    """Build a person detector.

    Args:
        name: "auto" (the first available of torchvision, mediapipe, hog, full_frame), or one of those names.
        models_dir: installed-models folder (``detectors/`` inside it is searched for torchvision weights).
        device: torch device for the torchvision detector.
    Raises:
        ValueError: unknown name. FileNotFoundError: "torchvision" without local weights (with the fix).
    """
    if name not in DETECTOR_NAMES:
        raise ValueError(f"unknown detector {name!r}; expected one of {list(DETECTOR_NAMES)}")
    if name in ("auto", "torchvision"):
        found = torchvision_weights_path(models_dir)
        if found is not None:
            log.info("person detector: torchvision %s (%s)", found[0], found[1])
            return TorchvisionDetector(found[0], found[1], device=device)
        if name == "torchvision":
            names = ", ".join(filename for _, filename in _TORCHVISION_MODELS)
            folders = " and ".join(str(f) for f in _torchvision_weight_folders(models_dir))
            raise FileNotFoundError(
                f"no torchvision detector weights on disk (looked for {names} in {folders}). Copy one there, or use "
                "--detector hog")
    if name == "mediapipe" or (name == "auto" and mediapipe_available()[0]):
        log.info("person detector: mediapipe BlazePose (lite worker process)")
        return MediaPipeDetector()
    if name == "hog" or (name == "auto" and hog_available()):
        log.info("person detector: OpenCV HOG")
        return HOGDetector()
    if name == "auto":
        log.warning("person detector: none of torchvision weights, the lite venv (mediapipe) or OpenCV HOG is "
                    "available; using the whole frame as one person box")
    return FullFrameDetector()
