"""Starting and talking to the MediaPipe worker process (``worker.py``) from the main environment.

The worker runs in ``.venv-lite`` (mediapipe 0.10.21, numpy<2, protobuf<5). A reader thread turns its stdout
into messages on a queue, so every wait has a timeout and a dead worker is reported with the tail of its stderr
instead of a hang.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.lite.worker import NUM_LANDMARKS, read_message, write_message

__all__ = ["LiteUnavailableError", "LiteWorker", "LandmarkObservation", "find_lite_python", "LITE_PYTHON_ENV"]

logger = logging.getLogger(__name__)

LITE_PYTHON_ENV = "TOKENMOCAP_LITE_PYTHON"
REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0  # first import of mediapipe + TFLite model load; slow on a busy 2-core machine
REQUEST_TIMEOUT_S = 120.0
SETUP_FIX = "run `bash scripts/setup.sh` from the project folder (it creates .venv-lite with mediapipe 0.10.21)"


class LiteUnavailableError(RuntimeError):
    """The lite engine cannot run: ``.venv-lite`` or mediapipe is missing, or the worker died."""


@dataclass(frozen=True)
class LandmarkObservation:
    """MediaPipe's pose for one person.

    Attributes:
        world: (33, 3) metres, origin between the hips, axes aligned with the OpenCV camera (x right, y down,
            z away from the camera).
        image_px: (33, 2) landmark positions in full-image pixels.
        visibility: (33,) MediaPipe visibility in [0, 1].
        region_xyxy: (4,) the image region MediaPipe looked at (a grown box, or the whole image).
    """

    world: np.ndarray
    image_px: np.ndarray
    visibility: np.ndarray
    region_xyxy: np.ndarray


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def find_lite_python() -> Path:
    """The Python of the lite venv: ``$TOKENMOCAP_LITE_PYTHON``, else ``.venv-lite`` in the project folder.

    Raises:
        LiteUnavailableError: naming the paths tried and the setup command that creates the venv.
    """
    env = os.environ.get(LITE_PYTHON_ENV)
    candidate = Path(env).expanduser() if env else _venv_python(REPO_ROOT / ".venv-lite")
    if not candidate.is_file():
        origin = f"${LITE_PYTHON_ENV}" if env else "the project's .venv-lite"
        raise LiteUnavailableError(
            f"lite engine: no Python found at {candidate} ({origin}); the lite engine runs mediapipe in its own "
            f"venv. Fix: {SETUP_FIX}, or set {LITE_PYTHON_ENV} to a Python that has mediapipe==0.10.21."
        )
    return candidate


class LiteWorker:
    """One running MediaPipe worker. Use as a context manager or call :meth:`close`.

    Args:
        python: the interpreter to run the worker with (default: :func:`find_lite_python`).
        start_timeout_s: how long to wait for the worker's ``ready`` message.
    """

    def __init__(self, python: Path | None = None, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.python = Path(python) if python is not None else find_lite_python()
        script = Path(__file__).with_name("worker.py")
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._replies: queue.Queue = queue.Queue()
        self._next_id = 0
        # -I: isolated mode, so the worker sees neither this project nor PYTHONPATH (no torch, no numpy 2).
        try:
            self._proc = subprocess.Popen(
                [str(self.python), "-I", str(script)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as e:
            raise LiteUnavailableError(f"lite engine: cannot run {self.python}: {e}. Fix: {SETUP_FIX}.") from e
        threading.Thread(target=self._read_stdout, daemon=True, name="lite-worker-stdout").start()
        threading.Thread(target=self._read_stderr, daemon=True, name="lite-worker-stderr").start()
        header, _ = self._get(start_timeout_s, "start")
        if header.get("type") != "ready":
            self.close()
            raise LiteUnavailableError(
                f"lite engine: the worker ({self.python}) could not start: {header.get('message', header)}. "
                f"Fix: {SETUP_FIX}."
            )
        self.mediapipe_version = str(header.get("mediapipe"))
        logger.debug("lite worker ready: mediapipe %s (%s)", self.mediapipe_version, self.python)

    def _read_stdout(self) -> None:
        stream = self._proc.stdout
        while True:
            try:
                self._replies.put(read_message(stream))
            except (EOFError, ValueError, OSError) as e:
                self._replies.put(({"type": "_closed", "message": str(e)}, {}))
                return

    def _read_stderr(self) -> None:
        for line in iter(self._proc.stderr.readline, b""):
            text = line.decode("utf-8", "replace").rstrip()
            self._stderr_tail.append(text)
            logger.debug("lite worker: %s", text)

    def _get(self, timeout_s: float, what: str) -> tuple[dict, dict[str, np.ndarray]]:
        try:
            header, arrays = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            self.close()
            raise LiteUnavailableError(
                f"lite engine: the worker sent nothing for {timeout_s:.0f} s ({what}); it was stopped"
            ) from None
        if header.get("type") == "_closed":
            self._proc.wait(timeout=10)
            tail = "\n".join(list(self._stderr_tail)[-8:])
            raise LiteUnavailableError(
                f"lite engine: the worker ({self.python}) exited with code {self._proc.returncode} during {what}. "
                f"Its last messages:\n{tail}\nFix: {SETUP_FIX}."
            )
        return header, arrays

    def detect(
        self, image_rgb: np.ndarray, boxes_xyxy: np.ndarray | None = None, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> list[LandmarkObservation | None]:
        """Run MediaPipe Pose on an image.

        Args:
            image_rgb: (H, W, 3) uint8 RGB image.
            boxes_xyxy: optional (N, 4) person boxes in pixels; one person per box, else one in the whole image.
            timeout_s: how long to wait for the reply.

        Returns:
            One entry per box (or one for the whole image): the landmarks, or None where no person was found.
        """
        image = np.asarray(image_rgb)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"lite engine: expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
        header: dict = {"type": "pose", "id": self._next_id}
        if boxes_xyxy is not None:
            boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
            header["boxes"] = boxes.tolist()
        self._next_id += 1
        try:
            write_message(self._proc.stdin, header, {"image": image})
        except (BrokenPipeError, OSError) as e:
            raise LiteUnavailableError(f"lite engine: cannot send to the worker ({e}); Fix: {SETUP_FIX}.") from e
        reply, arrays = self._get(timeout_s, "pose request")
        if reply.get("type") == "error":
            raise ValueError(f"lite engine worker rejected the request: {reply.get('message')}")
        if reply.get("id") != header["id"]:
            raise LiteUnavailableError(f"lite engine: reply id {reply.get('id')} for request {header['id']}")
        people: list[LandmarkObservation | None] = []
        for i, person in enumerate(reply["people"]):
            if not person["found"]:
                people.append(None)
                continue
            world = arrays[f"world_{i}"].astype(np.float64)
            if world.shape != (NUM_LANDMARKS, 3):
                raise LiteUnavailableError(f"lite engine: worker sent world landmarks of shape {world.shape}")
            people.append(
                LandmarkObservation(
                    world=world,
                    image_px=arrays[f"image_{i}"].astype(np.float64),
                    visibility=arrays[f"visibility_{i}"].astype(np.float64),
                    region_xyxy=np.asarray(person["region"], dtype=np.float64),
                )
            )
        return people

    def close(self) -> None:
        """Ask the worker to quit, then make sure it is gone."""
        if self._proc.poll() is None:
            try:
                write_message(self._proc.stdin, {"type": "quit", "id": -1})
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(timeout=10)

    def __enter__(self) -> "LiteWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
