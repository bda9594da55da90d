"""The TokenHMR / HMR 2.0 engine: detect -> official crop -> batched network + SMPL -> full-image camera.

Staged for the server (``prepare`` on CPU threads, ``infer`` batched on the GPU with bf16 autocast on CUDA,
``finish`` per image). Results follow DESIGN.md §5: axis-angle in SMPL order, OpenCV camera frame, ``cam_t_full``
translating the SMPL origin with the focal length ``5000/256 * max(W, H)`` of each image.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from backend.engine import PreparedImage
from backend.geometry import rotmat_to_axis_angle
from backend.results import PersonResult
from backend.vision import (
    PersonDetector,
    cam_crop_to_full,
    crop_person,
    focal_length_px,
    make_detector,
    perspective_projection,
)

__all__ = ["HMREngine", "load_hmr_engine"]

log = logging.getLogger(__name__)


class HMREngine:
    """A loaded TokenHMR or HMR 2.0 predictor with its person detector.

    Args:
        name: "tokenhmr" or "hmr2".
        predictor: ``backend.models.HMRPredictor`` (network + SMPL) on ``device``.
        detector: person detector for images sent without boxes.
        device: torch device of the predictor.
        max_batch: most crops per forward pass.
        models_dir: installed-models folder (for per-request detector overrides).
    """

    def __init__(self, name: str, predictor: torch.nn.Module, detector: PersonDetector, device: torch.device,
                 max_batch: int = 16, models_dir: Path | None = None) -> None:
        self.name = name
        self.max_batch = max_batch
        self._predictor = predictor.eval()
        self._detector = detector
        self._device = device
        self._models_dir = models_dir
        self._detectors: dict[str, PersonDetector] = {detector.name: detector}
        self._lock = threading.Lock()

    def _detector_for(self, name: str | None) -> PersonDetector:
        if name is None or name in ("auto", self._detector.name):
            return self._detector
        with self._lock:
            if name not in self._detectors:
                self._detectors[name] = make_detector(name, self._models_dir, device=str(self._device))
            return self._detectors[name]

    # ----------------------------------------------------------------------------------------------- stages
    def prepare(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray | None = None,
                detector: str | None = None) -> PreparedImage:
        """Detect (unless boxes are given) and crop every person (official ViTDet crop)."""
        h, w = image_bgr.shape[:2]
        if boxes_xyxy is None:
            boxes, scores = self._detector_for(detector).detect(image_bgr)
        else:
            boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
            scores = np.ones(len(boxes), np.float32)
        crops = [crop_person(image_bgr, box) for box in boxes]
        return PreparedImage(
            image_size_wh=np.array([w, h], np.float32),
            boxes_xyxy=boxes.astype(np.float32),
            scores=scores.astype(np.float32),
            crops=np.stack([c.img for c in crops]) if crops else np.zeros((0, 3, 256, 256), np.float32),
            box_centers=np.stack([c.box_center for c in crops]).astype(np.float32) if crops else np.zeros((0, 2)),
            box_sizes=np.array([c.box_size for c in crops], np.float32),
        )

    def infer(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """Network + SMPL on (B, 3, 256, 256) crops; bf16 autocast on CUDA. Returns numpy arrays (leading B)."""
        img = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32)).to(self._device, non_blocking=True)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16,
                                                    enabled=self._device.type == "cuda"):
            pred = self._predictor(img)
        net = pred.network
        return {
            "global_orient": rotmat_to_axis_angle(net.global_orient.float()).reshape(-1, 3).cpu().numpy(),
            "body_pose": rotmat_to_axis_angle(net.body_pose.float()).reshape(-1, 23, 3).cpu().numpy(),
            "betas": net.betas.float().cpu().numpy(),
            "pred_cam": net.pred_cam.float().cpu().numpy(),
            "keypoints_3d": pred.keypoints_3d.float().cpu().numpy(),
        }

    def finish(self, prepared: PreparedImage, outputs: dict[str, np.ndarray]) -> list[PersonResult]:
        """Axis-angle, full-image camera and projected keypoints for one image's people."""
        n = prepared.num_people
        if n == 0:
            return []
        img_wh = np.repeat(prepared.image_size_wh[None].astype(np.float64), n, axis=0)
        focal = focal_length_px(img_wh)
        cam_t_full = cam_crop_to_full(outputs["pred_cam"].astype(np.float64), prepared.box_centers.astype(np.float64),
                                      prepared.box_sizes.astype(np.float64), img_wh, focal)
        keypoints_2d = perspective_projection(outputs["keypoints_3d"].astype(np.float64), cam_t_full, focal,
                                              camera_center=img_wh / 2.0)
        global_orient, body_pose = outputs["global_orient"], outputs["body_pose"]
        return [
            PersonResult(
                engine=self.name, bbox_xyxy=prepared.boxes_xyxy[i], score=float(prepared.scores[i]),
                global_orient=global_orient[i], body_pose=body_pose[i], betas=outputs["betas"][i],
                cam_crop=outputs["pred_cam"][i], cam_t_full=cam_t_full[i], focal_length_px=float(focal[i]),
                keypoints_2d=keypoints_2d[i])
            for i in range(n)
        ]

    # ----------------------------------------------------------------------------------------------- one call
    def reconstruct(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray | None = None) -> list[PersonResult]:
        return self.reconstruct_batch([image_bgr], [boxes_xyxy])[0]

    def reconstruct_batch(self, images_bgr, boxes_xyxy=None) -> list[list[PersonResult]]:
        boxes_xyxy = list(boxes_xyxy) if boxes_xyxy is not None else [None] * len(images_bgr)
        prepared = [self.prepare(image, boxes) for image, boxes in zip(images_bgr, boxes_xyxy)]
        crops = np.concatenate([p.crops for p in prepared], axis=0)
        if crops.shape[0] == 0:
            return [[] for _ in prepared]
        parts = [self.infer(crops[lo:lo + self.max_batch]) for lo in range(0, crops.shape[0], self.max_batch)]
        outputs = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        results, offset = [], 0
        for p in prepared:
            results.append(self.finish(p, {k: v[offset:offset + p.num_people] for k, v in outputs.items()}))
            offset += p.num_people
        return results

    def close(self) -> None:
        for detector in self._detectors.values():
            close = getattr(detector, "close", None)
            if close is not None:
                close()


def load_hmr_engine(name: str, models_dir: Path, *, device: str | None = None, detector: str = "auto",
                    max_batch: int = 16) -> HMREngine:
    """Load an installed TokenHMR/HMR 2.0 (``<models_dir>/<name>/``) with SMPL onto ``device``."""
    from backend.body import SMPLBody
    from backend.models import HMRPredictor, load_installed_model

    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_installed_model(Path(models_dir) / name, device=torch_device)
    smpl = SMPLBody.from_files(Path(models_dir) / "smpl" / "SMPL_NEUTRAL.pkl",
                               joint_regressor_extra_path=Path(models_dir) / "SMPL_to_J19.pkl").to(torch_device)
    predictor = HMRPredictor(model, smpl).eval()
    log.info("%s loaded on %s", name, torch_device)
    return HMREngine(name, predictor, make_detector(detector, models_dir, device=str(torch_device)), torch_device,
                     max_batch=max_batch, models_dir=Path(models_dir))
