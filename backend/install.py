"""``tokenmocap models install``: find the user's official downloads, verify them, convert, and place them.

Input: a folder or an archive (``.zip``, ``.tar.gz``) holding any of the official files: the SMPL neutral model
(``SMPL_NEUTRAL.pkl`` or ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``), TokenHMR's ``data.zip`` content
(``SMPL_to_J19.pkl``, ``smpl_mean_params.npz``, ``tokenhmr_model_latest.ckpt``, ``tokenizer.pth``,
``model_config.yaml``) and optionally an HMR 2.0 checkpoint. Files are found by name first, then by content.

Every file is verified before it is placed: the SMPL files through ``backend.body``'s loaders (keys, shapes), the
checkpoints through ``backend.models``' strict loaders (every key and shape). Network weights are then stored as
safetensors (memory-mapped, no pickle at load time) with the architecture as JSON. The layout under
``backend.paths.models_dir()`` is :data:`INSTALLED_FILES`; ``installed_state`` reads it without importing torch.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["INSTALLED_FILES", "ENGINE_REQUIREMENTS", "InstalledState", "InstallReport", "installed_state",
           "install_models", "InstallError"]

log = logging.getLogger(__name__)

# Installed layout: relative path -> (what it is, where the user gets the source file).
INSTALLED_FILES: dict[str, tuple[str, str]] = {
    "smpl/SMPL_NEUTRAL.pkl": ("SMPL neutral body model", "smpl.is.tue.mpg.de (SMPL for Python, neutral model)"),
    "SMPL_to_J19.pkl": ("extra joint regressor", "TokenHMR data.zip (tokenhmr.is.tue.mpg.de)"),
    "smpl_mean_params.npz": ("mean SMPL parameters", "TokenHMR data.zip (tokenhmr.is.tue.mpg.de)"),
    "tokenhmr/model.safetensors": ("TokenHMR weights", "tokenhmr_model_latest.ckpt from TokenHMR data.zip"),
    "tokenhmr/tokenizer.safetensors": ("TokenHMR pose tokenizer decoder", "tokenizer.pth from TokenHMR data.zip"),
    "tokenhmr/config.json": ("TokenHMR architecture", "derived from the TokenHMR checkpoint at install"),
    "hmr2/model.safetensors": ("HMR 2.0 weights (optional)", "HMR 2.0 .ckpt from 4D-Humans hmr2_data.tar.gz"),
    "hmr2/config.json": ("HMR 2.0 architecture (optional)", "derived from the HMR 2.0 checkpoint at install"),
}
_BODY_FILES = ("smpl/SMPL_NEUTRAL.pkl", "SMPL_to_J19.pkl", "smpl_mean_params.npz")
ENGINE_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "tokenhmr": _BODY_FILES + ("tokenhmr/model.safetensors", "tokenhmr/tokenizer.safetensors", "tokenhmr/config.json"),
    "hmr2": _BODY_FILES + ("hmr2/model.safetensors", "hmr2/config.json"),
}

_SMPL_NAMES = ("smpl_neutral.pkl", "basicmodel_neutral_lbs_10_207_0_v1.0.0.pkl",
               "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl")
_MAX_EXTRACT_BYTES = 8 << 30  # refuse archives that would unpack to more than this


class InstallError(ValueError):
    """The given path holds no usable file, or a file failed verification (the message names it and the fix)."""


@dataclass(frozen=True)
class InstalledState:
    """Which files of :data:`INSTALLED_FILES` exist under ``folder``."""

    folder: Path
    present: dict[str, bool]

    def missing_for(self, engine: str) -> list[str]:
        """Relative paths the engine needs that are not installed."""
        return [rel for rel in ENGINE_REQUIREMENTS[engine] if not self.present.get(rel, False)]

    @property
    def smpl_path(self) -> Path | None:
        """The installed SMPL model, or None."""
        rel = "smpl/SMPL_NEUTRAL.pkl"
        return self.folder / rel if self.present[rel] else None


def installed_state(folder: Path) -> InstalledState:
    """Look at the installed layout (file existence only; cheap and torch-free)."""
    folder = Path(folder)
    return InstalledState(folder, {rel: (folder / rel).is_file() for rel in INSTALLED_FILES})


@dataclass
class InstallReport:
    """What ``install_models`` did."""

    installed: list[tuple[str, Path]] = field(default_factory=list)  # (installed relative path, source file)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source file, reason)
    state: InstalledState | None = None  # the layout after installing

    def lines(self) -> list[str]:
        """Human-readable summary: installed, failed, still missing per engine with the fix."""
        out = [f"installed {rel}  <- {src}" for rel, src in self.installed]
        out += [f"FAILED {src}: {reason}" for src, reason in self.failed]
        if self.state is not None:
            out.append(f"models directory: {self.state.folder}")
            for engine in ENGINE_REQUIREMENTS:
                missing = self.state.missing_for(engine)
                if f"{engine}/model.safetensors" in missing:  # its config comes with it
                    missing = [rel for rel in missing if rel != f"{engine}/config.json"]
                if not missing:
                    out.append(f"{engine}: ready")
                else:
                    out.append(f"{engine}: missing " + "; ".join(
                        f"{rel} ({INSTALLED_FILES[rel][0]}, from {INSTALLED_FILES[rel][1]})" for rel in missing))
        return out


# ------------------------------------------------------------------------------------------------- discovery

@dataclass
class _Found:
    smpl: Path | None = None
    j19: Path | None = None
    mean_params: Path | None = None
    tokenizer: Path | None = None
    checkpoints: list[Path] = field(default_factory=list)
    model_configs: list[Path] = field(default_factory=list)
    backbone_jsons: list[Path] = field(default_factory=list)


def _discover(root: Path) -> _Found:
    found = _Found()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.name.lower()
        if name in _SMPL_NAMES and found.smpl is None:
            found.smpl = path
        elif name == "smpl_to_j19.pkl":
            found.j19 = path
        elif name == "smpl_mean_params.npz":
            found.mean_params = path
        elif name.endswith(".pth") and "tokenizer" in name:
            found.tokenizer = path
        elif name.endswith(".ckpt"):
            found.checkpoints.append(path)
        elif name == "model_config.yaml":
            found.model_configs.append(path)
        elif name.endswith(".json") and _is_backbone_json(path):
            found.backbone_jsons.append(path)
    return found


def _is_backbone_json(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("backbone"), dict)


def _nearest(candidates: list[Path], to: Path) -> Path | None:
    """The candidate beside ``to``, else one folder up (data.zip keeps model_config.yaml beside the checkpoint)."""
    for folder in (to.parent, to.parent.parent):
        for candidate in candidates:
            if candidate.parent == folder:
                return candidate
    return None


def _extract(archive: Path, into: Path) -> Path:
    """Unpack a zip or tar archive safely (no absolute paths, no '..', bounded size)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            total = sum(info.file_size for info in zf.infolist())
            if total > _MAX_EXTRACT_BYTES:
                raise InstallError(f"{archive}: unpacks to {total} bytes, more than the {_MAX_EXTRACT_BYTES} allowed")
            for info in zf.infolist():
                target = (into / info.filename).resolve()
                if not str(target).startswith(str(into.resolve())):
                    raise InstallError(f"{archive}: member {info.filename!r} escapes the archive folder; refusing it")
            zf.extractall(into)
        return into
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter="data")  # the 'data' filter refuses links out, absolute paths, devices
        return into
    raise InstallError(f"{archive} is neither a folder nor a .zip/.tar archive; pass the folder (or archive) "
                       "holding the downloaded files")


# ------------------------------------------------------------------------------------------------- install

def install_models(source: Path, dest: Path | None = None) -> InstallReport:
    """Install every recognised file found in ``source`` (folder or archive) into ``dest``.

    Args:
        source: folder or .zip/.tar(.gz) archive of the official downloads (several calls may add files).
        dest: models folder; default ``backend.paths.models_dir()``.
    Returns:
        The report (installed, failed, and what is still missing).
    Raises:
        InstallError: nothing recognisable was found, or ``source`` does not exist.
    """
    from backend.paths import models_dir

    source = Path(source).expanduser()
    dest = Path(dest) if dest is not None else models_dir()
    if not source.exists():
        raise InstallError(f"{source} does not exist; pass the folder or archive holding the downloaded files")
    report = InstallReport()
    with tempfile.TemporaryDirectory(prefix="tokenmocap-install-") as tmp:
        tmp_path = Path(tmp)
        root = source if source.is_dir() else _extract(source, tmp_path / "unpacked")
        found = _discover(root)
        staging = tmp_path / "staging"
        staging.mkdir()
        if not (found.smpl or found.j19 or found.mean_params or found.tokenizer or found.checkpoints):
            raise InstallError(
                f"no official file found in {source}. Expected any of: SMPL_NEUTRAL.pkl (or "
                "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl), SMPL_to_J19.pkl, smpl_mean_params.npz, "
                "tokenhmr_model_latest.ckpt, tokenizer.pth, an HMR 2.0 .ckpt")
        _install_body_files(found, staging, report)
        _install_checkpoints(found, staging, report)
        dest.mkdir(parents=True, exist_ok=True)
        for rel, _src in report.installed:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / rel), str(target.with_suffix(target.suffix + ".partial")))
            target.with_suffix(target.suffix + ".partial").replace(target)  # atomic: never a half-written file
    report.state = installed_state(dest)
    return report


def _verify_and_copy(report: InstallReport, src: Path | None, rel: str, staging: Path, verify) -> None:
    if src is None:
        return
    try:
        verify(src)
    except (ValueError, OSError, KeyError, TypeError) as e:
        report.failed.append((str(src), f"{type(e).__name__}: {e}"))
        return
    target = staging / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    report.installed.append((rel, src))


def _install_body_files(found: _Found, staging: Path, report: InstallReport) -> None:
    from backend.body import load_joint_regressor_extra, load_smpl_data, load_smpl_mean_params

    num_vertices: list[int] = []

    def verify_smpl(path: Path) -> None:
        data = load_smpl_data(path)
        num_vertices.append(int(data.v_template.shape[0]))

    _verify_and_copy(report, found.smpl, "smpl/SMPL_NEUTRAL.pkl", staging, verify_smpl)
    _verify_and_copy(report, found.j19, "SMPL_to_J19.pkl", staging,
                     lambda p: load_joint_regressor_extra(p, num_vertices[0] if num_vertices else None))
    _verify_and_copy(report, found.mean_params, "smpl_mean_params.npz", staging, load_smpl_mean_params)


def _install_checkpoints(found: _Found, staging: Path, report: InstallReport) -> None:
    if not found.checkpoints:
        if found.tokenizer is not None:
            report.failed.append((str(found.tokenizer), "tokenizer.pth found but no TokenHMR checkpoint (.ckpt); "
                                  "both come from TokenHMR's data.zip and are installed together"))
        return
    from backend.models import CheckpointError

    for ckpt in found.checkpoints:
        try:
            kind = _checkpoint_kind(ckpt)
            if kind == "tokenhmr":
                if found.tokenizer is None:
                    raise InstallError(f"{ckpt.name} is a TokenHMR checkpoint but no tokenizer.pth was found beside "
                                       "it; TokenHMR needs both (data.zip: data/checkpoints/tokenizer.pth)")
                _convert(kind, ckpt, found, staging)
                report.installed += [("tokenhmr/model.safetensors", ckpt),
                                     ("tokenhmr/tokenizer.safetensors", found.tokenizer),
                                     ("tokenhmr/config.json", ckpt)]
            else:
                _convert(kind, ckpt, found, staging)
                report.installed += [("hmr2/model.safetensors", ckpt), ("hmr2/config.json", ckpt)]
        except (CheckpointError, InstallError, ValueError, OSError, RuntimeError) as e:
            report.failed.append((str(ckpt), f"{type(e).__name__}: {e}"))


def _checkpoint_kind(ckpt: Path) -> str:
    """"tokenhmr" or "hmr2" from the checkpoint's keys (TokenHMR's head is a token classifier)."""
    from backend.models import read_lightning_state_dict

    keys = read_lightning_state_dict(ckpt).keys()
    return "hmr2" if "smpl_head.decpose.weight" in keys else "tokenhmr"


def _backbone_for(ckpt: Path, found: _Found):
    """Backbone sizes: a ``{"backbone": ...}`` JSON beside the checkpoint (small test models), else ViT-H."""
    from backend.models import backbone_config_from_json

    candidate = _nearest(found.backbone_jsons, ckpt)
    if candidate is None:
        return "vit_h"
    return backbone_config_from_json(json.loads(candidate.read_text(encoding="utf-8")))


def _convert(kind: str, ckpt: Path, found: _Found, staging: Path) -> None:
    """Strict-load the official files (every key and shape checked), then write ``<kind>/`` as safetensors."""
    from backend.models import load_hmr2, load_tokenhmr, save_installed_model

    model_config = _nearest(found.model_configs, ckpt)
    backbone = _backbone_for(ckpt, found)
    if kind == "tokenhmr":
        model = load_tokenhmr(ckpt, found.tokenizer, model_config, backbone=backbone)
    else:
        model = load_hmr2(ckpt, model_config, backbone=backbone)
    save_installed_model(model, staging / kind, extra={"source": ckpt.name})
