"""The ``Engine`` contract every reconstruction engine follows, and ``make_engine`` that picks one.

Engines: ``tokenhmr`` (TokenHMR, needs the user's installed checkpoint + tokenizer + SMPL), ``hmr2`` (HMR 2.0, needs
its checkpoint + SMPL) and ``lite`` (mediapipe BlazePose + IK, no licensed files; ``backend.lite`` provides
``lite_available() -> (bool, reason)`` and ``make_lite_engine(detector=..., models_dir=...) -> Engine``). ``make_engine("auto")`` picks TokenHMR when its files are installed, else lite.

Besides the one-call ``reconstruct``, an engine may offer three stages so the server can run them in different
threads and batch crops from several requests into one forward pass (a :class:`StagedEngine`):
``prepare`` (decode-side CPU work: detection and cropping), ``infer`` (the batched network forward) and ``finish``
(per-image post-processing into :class:`~backend.results.PersonResult`).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from backend.paths import models_dir as default_models_dir
from backend.results import PersonResult

__all__ = [
    "Engine", "StagedEngine", "PreparedImage", "EngineUnavailable", "ENGINE_NAMES", "make_engine",
    "available_engines", "is_staged", "resolve_engine_name",
]

log = logging.getLogger(__name__)

ENGINE_NAMES: tuple[str, ...] = ("tokenhmr", "hmr2", "lite")


class EngineUnavailable(RuntimeError):
    """The requested engine cannot run here (files not installed, optional dependency missing)."""


@runtime_checkable
class Engine(Protocol):
    """What the server, the CLI and the video pipeline call."""

    name: str

    def reconstruct(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray | None = None) -> list[PersonResult]:
        """People in one image.

        Args:
            image_bgr: (H, W, 3) uint8 BGR image.
            boxes_xyxy: (N, 4) person boxes in pixels; None runs the engine's person detector.
        Returns:
            One PersonResult per person, in box order.
        """
        ...

    def reconstruct_batch(self, images_bgr: Sequence[np.ndarray],
                          boxes_xyxy: Sequence[np.ndarray | None] | None = None) -> list[list[PersonResult]]:
        """``reconstruct`` for several images at once (one batched forward where the engine can)."""
        ...


@dataclass
class PreparedImage:
    """One image after detection and cropping, ready for the batched forward.

    Attributes:
        image_size_wh: (2,) image width and height in pixels.
        boxes_xyxy: (N, 4) float32 person boxes in image pixels.
        scores: (N,) float32 detection scores (1.0 for given boxes).
        crops: (N, 3, 256, 256) float32 normalised RGB crops (the network input).
        box_centers: (N, 2) float32 crop centres in image pixels.
        box_sizes: (N,) float32 crop square sides in image pixels.
    """

    image_size_wh: np.ndarray
    boxes_xyxy: np.ndarray
    scores: np.ndarray
    crops: np.ndarray
    box_centers: np.ndarray
    box_sizes: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.boxes_xyxy.shape[0])


@runtime_checkable
class StagedEngine(Engine, Protocol):
    """An engine split into prepare (CPU) / infer (batched, GPU) / finish stages."""

    max_batch: int

    def prepare(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray | None = None,
                detector: str | None = None) -> PreparedImage:
        """Detect (unless boxes are given; ``detector`` overrides the engine's choice) and crop."""
        ...

    def infer(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """Network forward on (B, 3, 256, 256) crops; every returned array has leading dimension B."""
        ...

    def finish(self, prepared: PreparedImage, outputs: dict[str, np.ndarray]) -> list[PersonResult]:
        """Per-image results from ``infer``'s outputs for that image's crops (leading dimension N)."""
        ...


def is_staged(engine: object) -> bool:
    """Whether the server may split ``engine`` into prepare / infer / finish stages."""
    return all(callable(getattr(engine, name, None)) for name in ("prepare", "infer", "finish"))


def available_engines(models_dir: Path | None = None) -> dict[str, dict]:
    """Which engines could run, from installed files and importable packages, without loading anything heavy.

    Returns:
        {name: {"available": bool, "reason": str}} for every name in ENGINE_NAMES.
    """
    from backend.install import installed_state  # local import: install pulls in torch-free code only

    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    state = installed_state(folder)
    out = {}
    for name in ("tokenhmr", "hmr2"):
        missing = state.missing_for(name)
        out[name] = {
            "available": not missing,
            "reason": "installed" if not missing else
            f"missing {', '.join(missing)} in {folder}; run: tokenmocap models install PATH",
        }
    lite = _lite_module()
    if lite is None:
        out["lite"] = {"available": False,
                       "reason": "backend.lite does not provide lite_available/make_lite_engine in this installation"}
    else:
        available, reason = lite.lite_available()
        out["lite"] = {"available": bool(available), "reason": str(reason)}
    return out


def resolve_engine_name(name: str, engines: dict[str, dict]) -> str | None:
    """The engine a request for ``name`` runs: "auto" is TokenHMR when installed, else lite, else None.

    Args:
        name: "auto" or one of ENGINE_NAMES; a concrete name is returned unchanged.
        engines: ``available_engines()``'s answer.
    """
    if name != "auto":
        return name
    for candidate in ("tokenhmr", "lite"):
        if engines.get(candidate, {}).get("available"):
            return candidate
    return None


def _lite_module():
    """``backend.lite`` when it offers the engine entry points, else None."""
    try:
        module = importlib.import_module("backend.lite")
    except ModuleNotFoundError as e:
        if e.name == "backend.lite":
            return None
        raise
    if not (callable(getattr(module, "lite_available", None)) and callable(getattr(module, "make_lite_engine", None))):
        return None
    return module


def make_engine(name: str = "auto", models_dir: Path | None = None, *, device: str | None = None,
                detector: str = "auto", max_batch: int = 16) -> Engine:
    """Build an engine.

    Args:
        name: "auto" (TokenHMR when installed, else lite), "tokenhmr", "hmr2" or "lite".
        models_dir: installed-models folder; default ``backend.paths.models_dir()``.
        device: torch device string; default CUDA when available, else CPU.
        detector: person detector for images without boxes (see ``backend.vision.make_detector``).
        max_batch: largest number of crops in one forward pass.
    Raises:
        EngineUnavailable: with the missing files or package and the command that fixes it.
        ValueError: for an unknown name.
    """
    if name not in ("auto", *ENGINE_NAMES):
        raise ValueError(f"unknown engine {name!r}; expected 'auto' or one of {list(ENGINE_NAMES)}")
    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    engines = available_engines(folder)
    resolved = resolve_engine_name(name, engines)
    if resolved is None:
        raise EngineUnavailable(
            "no engine can run: TokenHMR is not installed (" + engines["tokenhmr"]["reason"] + ") and the lite "
            "engine is unavailable (" + engines["lite"]["reason"] + ")")
    name = resolved
    if not engines[name]["available"]:
        raise EngineUnavailable(f"engine {name!r} is unavailable: {engines[name]['reason']}")
    log.info("loading engine %s from %s", name, folder)
    if name == "lite":
        return _lite_module().make_lite_engine(detector=detector, models_dir=folder)
    from backend.engines.hmr import load_hmr_engine

    return load_hmr_engine(name, folder, device=device, detector=detector, max_batch=max_batch)
