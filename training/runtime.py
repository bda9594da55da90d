"""What both training entry points share: DDP from torchrun's environment, seeding, bf16 autocast, the LR
schedule, and exact checkpoint/resume (model, optimiser, scheduler, step, every RNG).

DDP is detected from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (set by ``torchrun``), as nanoGPT does; only rank 0
logs and writes files, and every rank's seed is offset by its rank. Nothing calls ``.cuda()``: the device is chosen
once (``cuda:LOCAL_RANK`` when CUDA is present, else CPU) and passed around.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "Runtime",
    "autocast",
    "load_training_checkpoint",
    "lr_factor",
    "make_lr_scheduler",
    "rng_state",
    "save_training_checkpoint",
    "seed_everything",
    "set_rng_state",
    "setup_runtime",
    "teardown_runtime",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Where this process runs."""

    device: torch.device  # cuda:LOCAL_RANK or cpu
    rank: int  # global rank (0 without DDP)
    world_size: int  # number of processes (1 without DDP)
    local_rank: int  # rank on this node

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1


def setup_runtime(device: str = "auto") -> Runtime:
    """Initialise DDP when torchrun's variables are set, and pick the device.

    Args:
        device: "auto" (CUDA when available, else CPU), "cpu", or "cuda".
    Returns:
        The runtime description.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but CUDA is not available; use --device cpu or auto")
    dev = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Runtime(device=dev, rank=rank, world_size=world_size, local_rank=local_rank)


def teardown_runtime(runtime: Runtime) -> None:
    """Destroy the process group if this run created one."""
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def autocast(device: torch.device, bf16: bool) -> Iterator[None]:
    """bf16 autocast on CUDA when requested; a no-op elsewhere (CPU runs stay fp32)."""
    if bf16 and device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def lr_factor(step: int, warmup_steps: int, milestones: tuple[int, ...], gamma: float) -> float:
    """Multiplier of the base LR at ``step`` (0-based): linear warm-up, then ×gamma at each milestone passed.

    Milestones are ints, checked: upstream passed the strings of '75000_100000'.split('_') to MultiStepLR,
    which never compares equal to an int step, so its LR never decayed.
    """
    if any(not isinstance(m, int) or isinstance(m, bool) for m in milestones):
        raise TypeError(f"LR milestones must be ints, found {milestones!r}")
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return warm * gamma ** sum(step >= m for m in milestones)


def make_lr_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, milestones: tuple[int, ...], gamma: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR over ``lr_factor``; call ``step()`` once per optimiser step."""
    lr_factor(0, warmup_steps, milestones, gamma)  # validate the milestones now, not at the first decay
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup_steps, milestones, gamma))


def rng_state(extra_generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Every RNG state this process uses (Python, numpy, torch CPU and CUDA, named generators)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    for name, gen in (extra_generators or {}).items():
        state[f"gen:{name}"] = gen.get_state()
    return state


def set_rng_state(state: dict[str, Any], extra_generators: dict[str, torch.Generator] | None = None) -> None:
    """Restore what ``rng_state`` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, gen in (extra_generators or {}).items():
        key = f"gen:{name}"
        if key not in state:
            raise ValueError(f"checkpoint RNG state has no generator {name!r}; found {sorted(state)}")
        gen.set_state(state[key])


def save_training_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a resume checkpoint atomically (temporary file, then rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_training_checkpoint(path: str | Path, required: tuple[str, ...]) -> dict[str, Any]:
    """Read a resume checkpoint written by ``save_training_checkpoint`` (our own file: full unpickling).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a key of ``required`` is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"resume checkpoint {path} does not exist; pass a last.ckpt written by this trainer")
    # Our checkpoints hold RNG states (tuples, numpy arrays) that weights_only cannot carry; they are files
    # this trainer wrote, never downloaded ones.
    payload = torch.load(path, map_location="cpu", weights_only=False)
    missing = [k for k in required if k not in payload]
    if missing:
        raise ValueError(
            f"{path}: not a checkpoint of this trainer: missing {missing}, found {sorted(payload)}. "
            "Pass the last.ckpt of a run of the same entry point"
        )
    return payload
