"""FBX export of a reconstructed person by Blender (bpy in ``.venv-blender``), from the main environment.

The backend never imports bpy: it writes the rest body and the person to files and runs ``blender_fbx.py`` with
the Blender venv's Python, which builds the character and exports it through the add-on's own code.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from backend.body import RestBody
from backend.results import PersonResult

__all__ = ["BLENDER_PYTHON_ENV", "FBXExportError", "find_blender_python", "export_fbx", "EXPORT_TIMEOUT_S"]

logger = logging.getLogger(__name__)

BLENDER_PYTHON_ENV = "TOKENMOCAP_BLENDER_PYTHON"
REPO_ROOT = Path(__file__).resolve().parents[2]
EXPORT_TIMEOUT_S = 300.0  # bpy import + build + export; about 10 s on a busy 2-core machine
SETUP_FIX = "run `bash scripts/setup.sh` from the project folder (it creates .venv-blender with bpy 5.0.1)"


class FBXExportError(RuntimeError):
    """The FBX could not be written: no Blender venv, or Blender reported an error."""


def find_blender_python() -> Path:
    """The Blender venv's Python: ``$TOKENMOCAP_BLENDER_PYTHON``, else ``.venv-blender`` in the project folder."""
    env = os.environ.get(BLENDER_PYTHON_ENV)
    bin_dir = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    candidate = Path(env).expanduser() if env else REPO_ROOT / ".venv-blender" / bin_dir
    if not candidate.is_file():
        raise FBXExportError(
            f"FBX export needs Blender as a Python module; no Python found at {candidate}. Fix: {SETUP_FIX}, or "
            f"set {BLENDER_PYTHON_ENV} to a Python that has bpy 5.0.1."
        )
    return candidate


def export_fbx(body: RestBody, person: PersonResult, out_path: Path, python: Path | None = None) -> Path:
    """Write ``out_path`` (.fbx): ``body`` posed by ``person``, armature + skinned mesh + a one-frame action.

    Raises:
        FBXExportError: with Blender's message, or the setup fix when the Blender venv is missing.
    """
    python = python if python is not None else find_blender_python()
    script = Path(__file__).with_name("blender_fbx.py")
    out_path = Path(out_path).resolve()
    with tempfile.TemporaryDirectory(prefix="tokenmocap_fbx_") as tmp:
        body_path, person_path = Path(tmp) / "body_model.npz", Path(tmp) / "person.json"
        np.savez(
            body_path,
            vertices=body.vertices,
            faces=body.faces,
            weights=body.weights,
            joints=body.joints,
            parents=body.parents,
            joint_names=np.array(body.joint_names),
        )
        person_path.write_text(json.dumps(person.to_json()), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))  # the add-on package lives in the project folder
        try:
            proc = subprocess.run(
                # -P: the script's folder is not put on sys.path (its module names must not shadow anything)
                [str(python), "-P", str(script), str(body_path), str(person_path), str(out_path)],
                capture_output=True,
                text=True,
                timeout=EXPORT_TIMEOUT_S,
                env=env,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired as e:
            raise FBXExportError(f"Blender did not finish the FBX export within {EXPORT_TIMEOUT_S:.0f} s") from e
    logger.debug("blender export stdout: %s", proc.stdout)
    if proc.returncode != 0 or not out_path.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise FBXExportError(f"Blender ({python}) could not export {out_path.name} (exit {proc.returncode}):\n{tail}")
    return out_path
