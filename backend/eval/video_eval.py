"""Scoring the streaming video path (detection → tracking → causal smoothing) on 3DPW / EMDB.

With ``tokenmocap eval 3dpw --video`` every frame of a sequence goes, in order, through
:class:`backend.video.VideoSession` (the path the Blender add-on streams from) with the engine's own person
detector; each ground-truth person is then scored against the tracked person whose box overlaps its box most
(IoU >= ``min_iou``). The acceleration error of these results shows what the tracker and the One-Euro smoothing do
to jitter, next to the per-frame numbers.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backend.results import PersonResult

from .datasets import BodySample
from .tracking_metrics import box_iou

__all__ = ["VideoResults", "sequence_frames"]

log = logging.getLogger(__name__)

_DIGITS = re.compile(r"(\d+)$")


def sequence_frames(folder: Path) -> list[tuple[int, Path]]:
    """The numbered ``*.jpg`` frames of a sequence folder in order: ``image_00012.jpg`` (3DPW) and ``00012.jpg``
    (EMDB) are frame 12."""
    frames = []
    for path in folder.glob("*.jpg"):
        m = _DIGITS.search(path.stem)
        if m:
            frames.append((int(m.group(1)), path))
    if not frames:
        raise FileNotFoundError(f"{folder}: no numbered .jpg frames; the --video evaluation needs every frame of the "
                                "sequence (is the dataset's image download complete?)")
    return sorted(frames)


class VideoResults:
    """Runs each sequence through a video session once and answers ``(sample, box) -> PersonResult | None``.

    Args:
        make_session: returns a fresh ``VideoSession`` for a sequence.
        load_image: reads a frame file as BGR uint8.
        min_iou: smallest box overlap between the ground-truth box and a tracked person's box.
    """

    def __init__(self, make_session: Callable[[], Any], load_image: Callable[[Path], np.ndarray],
                 min_iou: float = 0.3) -> None:
        self.make_session = make_session
        self.load_image = load_image
        self.min_iou = min_iou
        self._folder: Path | None = None
        self._frames: dict[int, list[PersonResult]] = {}

    def _run(self, folder: Path) -> None:
        session = self.make_session()
        frames: dict[int, list[PersonResult]] = {}
        try:
            for index, path in sequence_frames(folder):
                session.push_frame(index, self.load_image(path))
                for result in session.results():
                    frames[result.index] = [t.person for t in result.tracks]
            for result in session.flush():
                frames[result.index] = [t.person for t in result.tracks]
        finally:
            session.close()
        self._folder, self._frames = folder, frames
        log.info("%s: %d frames through the video path", folder.name, len(frames))

    def __call__(self, sample: BodySample, box_xyxy: np.ndarray) -> PersonResult | None:
        folder = Path(sample.image_path).parent
        if folder != self._folder:
            self._run(folder)
        people = self._frames.get(sample.frame_index, [])
        if not people:
            return None
        iou = box_iou(np.asarray(box_xyxy, dtype=np.float64)[None],
                      np.stack([np.asarray(p.bbox_xyxy, dtype=np.float64).reshape(4) for p in people]))[0]
        best = int(np.argmax(iou))
        return people[best] if iou[best] >= self.min_iou else None
