"""A small deterministic engine for service tests: each person's ``score`` is the mean intensity of its box.

It exercises the real staged-engine contract (prepare / infer / finish) so the server's routing, batching,
cancellation and shutdown can be checked exactly: a reply carries a value computed from *that* request's pixels.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from backend.engine import PreparedImage
from backend.results import PersonResult


class ProbeEngine:
    name = "probe"

    def __init__(self, max_batch: int = 16, infer_delay_s: float = 0.0, infer_gate: threading.Event | None = None,
                 ) -> None:
        self.max_batch = max_batch
        self.infer_delay_s = infer_delay_s
        self.infer_gate = infer_gate  # when given, every forward waits until it is set
        self.batch_sizes: list[int] = []
        self.prepared = 0  # images cropped so far
        self.infer_started = threading.Event()

    def prepare(self, image_bgr, boxes_xyxy=None, detector=None) -> PreparedImage:
        h, w = image_bgr.shape[:2]
        boxes = (np.array([[0, 0, w, h]], np.float32) if boxes_xyxy is None
                 else np.asarray(boxes_xyxy, np.float32).reshape(-1, 4))
        crops = []
        for x1, y1, x2, y2 in boxes.astype(int):
            patch = image_bgr[max(y1, 0):max(y2, 1), max(x1, 0):max(x2, 1)]
            crops.append(np.full((3, 4, 4), patch.mean() / 255.0, np.float32))
        self.prepared += 1
        return PreparedImage(
            image_size_wh=np.array([w, h], np.float32), boxes_xyxy=boxes, scores=np.ones(len(boxes), np.float32),
            crops=np.stack(crops), box_centers=(boxes[:, :2] + boxes[:, 2:]) / 2,
            box_sizes=(boxes[:, 2:] - boxes[:, :2]).max(axis=1))

    def infer(self, crops: np.ndarray) -> dict:
        self.infer_started.set()
        if self.infer_gate is not None and not self.infer_gate.wait(10):
            raise TimeoutError("infer_gate was never opened")
        if self.infer_delay_s:
            time.sleep(self.infer_delay_s)
        self.batch_sizes.append(crops.shape[0])
        return {"mean": crops.mean(axis=(1, 2, 3)), "batch": np.full(crops.shape[0], crops.shape[0])}

    def finish(self, prepared: PreparedImage, outputs: dict) -> list[PersonResult]:
        people = []
        for i in range(prepared.num_people):
            people.append(PersonResult(
                engine=self.name, bbox_xyxy=prepared.boxes_xyxy[i], score=float(outputs["mean"][i]),
                global_orient=np.zeros(3), body_pose=np.zeros((23, 3)), betas=np.zeros(10),
                cam_crop=np.array([1.0, 0.0, float(outputs["batch"][i])]), cam_t_full=np.zeros(3),
                focal_length_px=5000.0, keypoints_2d=np.zeros((44, 2))))
        return people

    def reconstruct(self, image_bgr, boxes_xyxy=None):
        prepared = self.prepare(image_bgr, boxes_xyxy)
        return self.finish(prepared, self.infer(prepared.crops))

    def reconstruct_batch(self, images_bgr, boxes_xyxy=None):
        boxes_xyxy = boxes_xyxy or [None] * len(images_bgr)
        return [self.reconstruct(image, boxes) for image, boxes in zip(images_bgr, boxes_xyxy)]
