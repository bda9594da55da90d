"""Reading the official SMPL files without chumpy: ``SMPL_NEUTRAL.pkl`` (or ``.npz``), ``SMPL_to_J19.pkl`` and
``smpl_mean_params.npz``.

The real SMPL pickle (smpl.is.tue.mpg.de, Python 2, protocol 2) holds chumpy ``Ch`` objects, and its
``J_regressor`` is pickled under the old module name ``scipy.sparse.csc``. chumpy cannot be imported with
numpy >= 1.24, so a restricted unpickler maps every ``chumpy.*`` class to an inert stub that keeps the pickled
``__dict__`` (a leaf ``Ch`` keeps its value under ``'x'``, chumpy ``ch.py __getstate__``), and maps scipy's sparse
matrix classes, under their old and new module names, to a stub rebuilt with scipy from ``data/indices/indptr``.
Only the numpy/scipy reconstruction globals below are allowed; any other global is refused by name, so a
tampered file cannot execute code.
"""

from __future__ import annotations

import codecs
import copyreg
import importlib
import io
import logging
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from .joint_names import NUM_SMPL_JOINTS, SMPL_PARENTS

__all__ = [
    "SMPLData",
    "SMPLFileError",
    "SMPLMeanParams",
    "load_smpl_data",
    "load_joint_regressor_extra",
    "load_smpl_mean_params",
    "SMPL_INSTALL_HINT",
]

logger = logging.getLogger(__name__)

SMPL_INSTALL_HINT = (
    "The SMPL body model is licence-gated and not shipped with TokenMocap: register at https://smpl.is.tue.mpg.de "
    "(SMPL for Python, neutral model) and download TokenHMR's data.zip (SMPL_to_J19.pkl, smpl_mean_params.npz), "
    "then run `tokenmocap models install PATH_TO_DOWNLOADS`."
)


class SMPLFileError(ValueError):
    """An SMPL-related file exists but its content is not what the official format holds."""


class _ChumpyStub:
    """Stand-in for any chumpy class: keeps the pickled ``__dict__`` and nothing else (no code runs)."""

    chumpy_class = "chumpy.ch.Ch"

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_pickled_state"] = state


class _SparseStub:
    """Stand-in for a pickled scipy sparse matrix; :func:`_to_array` rebuilds it with the current scipy."""

    sparse_format = "csc"

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_pickled_state"] = state


def _sparse_stub_class(fmt: str) -> type:
    return type(f"_Sparse_{fmt}", (_SparseStub,), {"sparse_format": fmt})


def _chumpy_stub_class(module: str, name: str) -> type:
    return type(f"_Chumpy_{name}", (_ChumpyStub,), {"chumpy_class": f"{module}.{name}"})


# (module, name) -> object. Python-2 names appear raw because a custom find_class bypasses fix_imports.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # Python 3 protocol-2 pickles store bytes through it
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    # chumpy's pickled __dict__ holds `_dirty_vars`, a set (`__builtin__.set` in the Python 2 files).
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    # Resolved lazily by _numpy_global (numpy 2 renamed numpy.core to numpy._core).
    _ALLOWED_GLOBALS[(_mod, "_reconstruct")] = None
    _ALLOWED_GLOBALS[(_mod, "scalar")] = None
for _fmt in ("csc", "csr"):
    for _mod in (f"scipy.sparse.{_fmt}", f"scipy.sparse._{_fmt}", "scipy.sparse"):
        _ALLOWED_GLOBALS[(_mod, f"{_fmt}_matrix")] = _sparse_stub_class(_fmt)


def _numpy_global(module: str, name: str) -> Any:
    # numpy 2 renamed numpy.core to numpy._core; resolve through whichever exists, only for allow-listed names.
    for candidate in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise SMPLFileError(f"numpy has no {module}.{name}; cannot rebuild the arrays of this pickle")


class _SMPLUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_stub_class(module, name)
        key = (module, name)
        if key not in _ALLOWED_GLOBALS:
            raise SMPLFileError(
                f"{self._source}: refusing to unpickle global {module}.{name}; an SMPL file holds only numpy "
                "arrays, scipy sparse matrices and chumpy arrays. Is this the official SMPL model file?"
            )
        if name in ("_reconstruct", "scalar") and module.startswith("numpy"):
            return _numpy_global(module, name)
        return _ALLOWED_GLOBALS[key]


def _unpickle(path: Path) -> Any:
    with open(path, "rb") as f:
        try:
            return _SMPLUnpickler(f, path).load()
        except SMPLFileError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
            raise SMPLFileError(f"{path}: not a readable pickle ({type(e).__name__}: {e}); the file may be "
                                f"truncated or of another kind. {SMPL_INSTALL_HINT}") from e


def _to_array(value: Any, where: str) -> np.ndarray:
    """Turns an unpickled value (ndarray, chumpy stub, sparse stub) into a dense numpy array."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, _ChumpyStub):
        state = value.__dict__.get("_pickled_state")
        if isinstance(state, dict) and "x" in state:
            return np.asarray(_to_array(state["x"], where))
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise SMPLFileError(
            f"{where}: a chumpy {value.chumpy_class} object without a stored value 'x' (found {keys}); it is a "
            "derived chumpy expression that cannot be evaluated without chumpy. Convert the file with smplx's "
            "tools/clean_ch.py or use the official neutral model file."
        )
    if isinstance(value, _SparseStub):
        state = value.__dict__.get("_pickled_state")
        if not isinstance(state, dict):
            raise SMPLFileError(f"{where}: pickled sparse matrix without a state dict")
        shape = state.get("_shape", state.get("shape"))
        missing = [k for k in ("data", "indices", "indptr") if k not in state] + ([] if shape else ["_shape"])
        if missing:
            raise SMPLFileError(f"{where}: pickled {value.sparse_format}_matrix lacks {missing}")
        cls = scipy.sparse.csc_matrix if value.sparse_format == "csc" else scipy.sparse.csr_matrix
        return cls((state["data"], state["indices"], state["indptr"]), shape=tuple(shape)).toarray()
    if scipy.sparse.issparse(value):
        return value.toarray()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as e:
        raise SMPLFileError(f"{where}: expected an array, found {type(value).__name__}") from e


@dataclass(frozen=True)
class SMPLData:
    """The arrays of an SMPL model file, float64 as stored, dense.

    Attributes:
        v_template: (V, 3) rest vertices of the mean shape, SMPL canonical frame (y up, +x = body's left), metres.
        faces: (F, 3) int64 triangle vertex indices.
        J_regressor: (24, V) joint regressor (rows sum to 1).
        weights: (V, 24) linear blend skinning weights (rows sum to 1).
        posedirs: (V, 3, 207) pose blend shapes.
        shapedirs: (V, 3, NB) shape blend shapes (NB >= 10 in the official files).
        parents: (24,) int64 kinematic tree, root -1.
        source: the file it was read from.
    """

    v_template: np.ndarray
    faces: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    posedirs: np.ndarray
    shapedirs: np.ndarray
    parents: np.ndarray
    source: Path

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])


_SMPL_KEYS = ("v_template", "f", "J_regressor", "weights", "posedirs", "shapedirs", "kintree_table")


def _missing_file_error(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"{what} not found at {path}. {SMPL_INSTALL_HINT}")


def _read_smpl_dict(path: Path) -> dict[str, Any]:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise SMPLFileError(f"{path}: not a readable .npz SMPL file ({e}). {SMPL_INSTALL_HINT}") from e
    data = _unpickle(path)
    if not isinstance(data, dict):
        raise SMPLFileError(
            f"{path}: expected a pickled dict with keys {list(_SMPL_KEYS)}, found {type(data).__name__}. "
            "Is this the SMPL model file (SMPL_NEUTRAL.pkl / basicModel_neutral_lbs_10_207_0_v1.0.0.pkl)?"
        )
    return data


def _check_shape(path: Path, key: str, arr: np.ndarray, expected: tuple[int | None, ...]) -> None:
    ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        shown = tuple("N" if e is None else e for e in expected)
        raise SMPLFileError(f"{path}: key '{key}' should have shape {shown}, found {tuple(arr.shape)}")


def load_smpl_data(path: str | Path) -> SMPLData:
    """Reads an official SMPL model file (``.pkl`` with or without chumpy objects, or ``.npz``).

    Args:
        path: the model file, e.g. ``.../smpl/SMPL_NEUTRAL.pkl``. A folder is searched for ``SMPL_NEUTRAL.pkl``
            then ``SMPL_NEUTRAL.npz`` (the layout smplx's ``model_path`` uses).

    Returns:
        The model arrays; see :class:`SMPLData`.

    Raises:
        FileNotFoundError: the file is missing (the message says where to get it).
        SMPLFileError: the file is unreadable or a key is missing or mis-shaped (named in the message).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise _missing_file_error(path / "SMPL_NEUTRAL.pkl", "SMPL model file")
    if not path.is_file():
        raise _missing_file_error(path, "SMPL model file")
    raw = _read_smpl_dict(path)
    missing = [k for k in _SMPL_KEYS if k not in raw]
    if missing:
        raise SMPLFileError(
            f"{path}: missing key(s) {missing}; an SMPL model file holds {list(_SMPL_KEYS)}, found "
            f"{sorted(raw)}. {SMPL_INSTALL_HINT}"
        )
    arrays = {k: _to_array(raw[k], f"{path} key '{k}'") for k in _SMPL_KEYS}
    v_template = arrays["v_template"].astype(np.float64)
    _check_shape(path, "v_template", v_template, (None, 3))
    num_v = v_template.shape[0]
    faces = arrays["f"]
    _check_shape(path, "f", faces, (None, 3))
    if faces.size and (faces.min() < 0 or faces.max() >= num_v):
        raise SMPLFileError(f"{path}: key 'f' indexes vertices outside 0..{num_v - 1}")
    J_regressor = arrays["J_regressor"].astype(np.float64)
    _check_shape(path, "J_regressor", J_regressor, (NUM_SMPL_JOINTS, num_v))
    weights = arrays["weights"].astype(np.float64)
    _check_shape(path, "weights", weights, (num_v, NUM_SMPL_JOINTS))
    posedirs = arrays["posedirs"].astype(np.float64)
    _check_shape(path, "posedirs", posedirs, (num_v, 3, (NUM_SMPL_JOINTS - 1) * 9))
    shapedirs = arrays["shapedirs"].astype(np.float64)
    _check_shape(path, "shapedirs", shapedirs, (num_v, 3, None))
    kintree = arrays["kintree_table"]
    _check_shape(path, "kintree_table", kintree, (2, NUM_SMPL_JOINTS))
    parents = kintree[0].astype(np.int64)
    parents[0] = -1  # stored as uint32 4294967295 (or int64 of that value)
    if tuple(parents.tolist()) != SMPL_PARENTS:
        raise SMPLFileError(
            f"{path}: kintree_table row 0 gives parents {parents.tolist()}, expected the SMPL tree "
            f"{list(SMPL_PARENTS)}; is this an SMPL (not SMPL-H / SMPL-X) model?"
        )
    logger.debug("read SMPL model %s: %d vertices, %d shape components", path, num_v, shapedirs.shape[-1])
    return SMPLData(
        v_template=v_template,
        faces=faces.astype(np.int64),
        J_regressor=J_regressor,
        weights=weights,
        posedirs=posedirs,
        shapedirs=shapedirs,
        parents=parents,
        source=path,
    )


def load_joint_regressor_extra(path: str | Path, num_vertices: int | None = None) -> np.ndarray:
    """Reads ``SMPL_to_J19.pkl``: a pickled dense (19, V) float array (official ``joint_regressor_extra``).

    Args:
        path: the pickle file.
        num_vertices: when given, the expected V.

    Returns:
        (19, V) float64 regressor.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise _missing_file_error(path, "Extra joint regressor SMPL_to_J19.pkl")
    arr = _to_array(_unpickle(path), str(path))
    if arr.ndim != 2 or arr.shape[0] != 19 or (num_vertices is not None and arr.shape[1] != num_vertices):
        expected = f"(19, {num_vertices if num_vertices is not None else 'V'})"
        raise SMPLFileError(f"{path}: expected a {expected} joint regressor array, found shape {arr.shape}")
    return arr.astype(np.float64)


@dataclass(frozen=True)
class SMPLMeanParams:
    """``smpl_mean_params.npz``: the mean the regression heads start from.

    Attributes:
        pose: (144,) 24 joints x 6D, TokenHMR rows convention (not necessarily orthonormal).
        shape: (10,) mean betas.
        cam: (3,) mean weak-perspective camera (s, tx, ty).
    """

    pose: np.ndarray
    shape: np.ndarray
    cam: np.ndarray


def load_smpl_mean_params(path: str | Path) -> SMPLMeanParams:
    """Reads ``smpl_mean_params.npz`` (keys ``pose`` (144,), ``shape`` (10,), ``cam`` (3,)), float64."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise _missing_file_error(path, "Mean parameter file smpl_mean_params.npz")
    expected = {"pose": (144,), "shape": (10,), "cam": (3,)}
    try:
        with np.load(path, allow_pickle=False) as npz:
            found = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise SMPLFileError(f"{path}: not a readable .npz file ({e})") from e
    for key, shape in expected.items():
        if key not in found:
            raise SMPLFileError(f"{path}: missing key '{key}' (expected keys {list(expected)}, found {sorted(found)})")
        if found[key].shape != shape:
            raise SMPLFileError(f"{path}: key '{key}' should have shape {shape}, found {found[key].shape}")
    return SMPLMeanParams(**{k: found[k].astype(np.float64) for k in expected})
