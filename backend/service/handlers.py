"""Request work that is not the batched forward: image decoding, the ``body_model`` reply, the device name."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from backend import protocol
from backend.protocol import ErrorCode, MessageType, ProtocolError
from backend.service.config import ServerConfig
from backend.service.pipeline import Job

__all__ = ["decode_job_image", "body_model_reply", "describe_device"]

log = logging.getLogger(__name__)


def decode_job_image(job: Job, limits: protocol.Limits) -> np.ndarray:
    """The request's image payload as (H, W, 3) uint8 BGR; raises ProtocolError (bad_image / too_large)."""
    from backend.vision import ImageDecodeError, ImageTooLargeError, decode_image

    spec = job.header["image"]
    try:
        return decode_image(job.payloads[0], spec["encoding"], shape=spec.get("shape"),
                            dtype=spec.get("dtype", "uint8") if spec["encoding"] == "raw" else None,
                            max_pixels=limits.max_image_pixels)
    except ImageTooLargeError as e:
        raise ProtocolError(ErrorCode.TOO_LARGE, str(e), job.request_id) from e
    except ImageDecodeError as e:
        raise ProtocolError(ErrorCode.BAD_IMAGE, str(e), job.request_id) from e


def body_model_reply(job: Job, config: ServerConfig) -> tuple[dict, list]:
    """The ``body_model`` reply: rest mesh, skin weights and skeleton from the user's SMPL (else the mannequin).

    Arrays (binary frames): ``vertices`` (V, 3) float32 metres, ``faces`` (F, 3) int32, ``weights`` (V, 24) float32,
    ``joints`` (24, 3) float32, all in SMPL's canonical frame (y up, facing +z).
    """
    from backend.body import mannequin_rest_body, smpl_rest_body
    from backend.install import installed_state
    from backend.paths import models_dir

    betas = job.header.get("betas")
    betas_arr = None if betas is None else np.asarray(betas, dtype=np.float64)
    smpl_path = installed_state(config.models_dir or models_dir()).smpl_path
    if smpl_path is None:
        body = mannequin_rest_body()  # no shape space: betas are echoed back empty so the client can tell
        betas_arr = None
    else:
        body = smpl_rest_body(_smpl_data(smpl_path, smpl_path.stat().st_mtime_ns), betas_arr)
    arrays = {
        "vertices": np.asarray(body.vertices, dtype=np.float32),
        "faces": np.asarray(body.faces, dtype=np.int32),
        "weights": np.asarray(body.weights, dtype=np.float32),
        "joints": np.asarray(body.joints, dtype=np.float32),
    }
    descriptors, frames = protocol.encode_arrays(arrays)
    header = protocol.make_header(
        MessageType.BODY_MODEL, job.request_id,
        source=str(body.source),
        joint_names=[str(name) for name in body.joint_names],
        parents=[int(p) for p in np.asarray(body.parents).reshape(-1)],
        betas=[] if betas_arr is None else betas_arr.tolist(),
        arrays=descriptors,
    )
    return header, frames


@functools.lru_cache(maxsize=2)
def _smpl_data(path: Path, mtime_ns: int):
    """The SMPL arrays, loaded once per file version (mtime in the key so a reinstall is picked up)."""
    from backend.body import load_smpl_data

    del mtime_ns
    return load_smpl_data(path)


def describe_device(device: str | None) -> str:
    """Human-readable compute device, e.g. ``cuda:0 (NVIDIA H100)`` or ``cpu (8 threads)``."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but torch sees no CUDA device; use --device cpu")
        index = torch.device(device).index or 0
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"{device} ({torch.get_num_threads()} threads)"
