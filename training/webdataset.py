"""HMR 2.0 webdataset tar shards, read with the standard library's ``tarfile`` (no webdataset dependency).

Format (``hmr2/datasets/image_dataset.py: load_tars_as_webdataset``): each sample is a group of tar members
sharing a key, ``<key>.jpg`` (the image), ``<key>.data.pyd`` (a pickled list of per-person dicts: ``center`` (2,),
``scale`` (2,) or (1,) (box size / 200), ``keypoints_2d`` (44, 3) pixels + confidence, ``keypoints_3d`` (44, 4)
metres + confidence, ``body_pose`` (72,) axis-angle incl. the root, ``betas`` (10,), ``has_body_pose``,
``has_betas``, ``extra_info``) and an optional ``<key>.detection.npz`` (masks). Every person is one training item.

Shards are indexed once (member offsets and sizes), so items are read by random access: batches can be drawn
by the mixing weights from a seeded generator, and a resumed run sees exactly the same items.

``data.pyd`` is a pickle. It is read with a restricted unpickler that only builds numpy arrays, numpy scalars and
plain containers, so a malicious shard cannot execute code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["ShardIndex", "WebDatasetError", "decode_person", "index_shards", "read_item", "write_shards"]

PERSON_KEYS = ("center", "scale", "keypoints_2d", "keypoints_3d", "body_pose", "betas", "has_body_pose", "has_betas")


class WebDatasetError(ValueError):
    """A shard or sample that does not follow the HMR 2.0 webdataset format."""


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.dtypes", "Float32DType"), ("numpy.dtypes", "Float64DType"),
    ("numpy.dtypes", "Int64DType"), ("numpy.dtypes", "BoolDType"), ("numpy.dtypes", "Int32DType"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("collections", "OrderedDict"), ("_codecs", "encode"),
}  # fmt: skip


class _AnnotationUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"data.pyd references {module}.{name}; only numpy arrays/scalars and plain containers are allowed"
        )


def _load_pyd(raw: bytes, where: str) -> list[dict[str, Any]]:
    try:
        value = _AnnotationUnpickler(io.BytesIO(raw)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
        raise WebDatasetError(f"{where}: cannot read data.pyd: {e}") from e
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise WebDatasetError(f"{where}: data.pyd must be a list of per-person dicts, found {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ShardIndex:
    """Random-access index of the persons in a set of shards (one entry per person)."""

    shards: tuple[str, ...]  # shard paths
    shard_id: np.ndarray  # (N,) int32 index into ``shards``
    image_span: np.ndarray  # (N, 2) int64 (offset, size) of the image member
    pyd_span: np.ndarray  # (N, 2) int64 (offset, size) of the data.pyd member
    person: np.ndarray  # (N,) int32 index inside the data.pyd list
    keys: tuple[str, ...]  # (N,) sample keys

    def __len__(self) -> int:
        return int(self.shard_id.shape[0])


def _sample_key(name: str) -> tuple[str, str]:
    """webdataset's split: the key is the path up to the first '.' of the basename; the rest is the field."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    if not dot:
        return name, ""
    return (f"{folder}/{stem}" if folder else stem), ext


def index_shards(paths: list[str | Path]) -> ShardIndex:
    """Scan tar shards and index every person of every sample.

    Raises:
        FileNotFoundError: a shard is missing; WebDatasetError: a sample without an image or ``data.pyd``.
    """
    shard_ids, image_spans, pyd_spans, persons, keys = [], [], [], [], []
    shards = tuple(str(p) for p in paths)
    if not shards:
        raise FileNotFoundError("no webdataset shards given; pass .tar files in the HMR 2.0 format")
    for sid, path in enumerate(shards):
        if not Path(path).is_file():
            raise FileNotFoundError(f"webdataset shard {path} does not exist")
        groups: dict[str, dict[str, tuple[int, int]]] = {}
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, field = _sample_key(member.name)
                groups.setdefault(key, {})[field] = (member.offset_data, member.size)
            for key, fields in groups.items():
                image = next((fields[f] for f in ("jpg", "jpeg", "png") if f in fields), None)
                if image is None or "data.pyd" not in fields:
                    raise WebDatasetError(f"{path}: sample {key!r} has fields {sorted(fields)}; needs jpg and data.pyd")
                off, size = fields["data.pyd"]
                tar.fileobj.seek(off)
                people = _load_pyd(tar.fileobj.read(size), f"{path}:{key}")
                for i in range(len(people)):
                    shard_ids.append(sid)
                    image_spans.append(image)
                    pyd_spans.append(fields["data.pyd"])
                    persons.append(i)
                    keys.append(key)
    return ShardIndex(
        shards=shards, shard_id=np.asarray(shard_ids, np.int32), image_span=np.asarray(image_spans, np.int64),
        pyd_span=np.asarray(pyd_spans, np.int64), person=np.asarray(persons, np.int32), keys=tuple(keys),
    )  # fmt: skip


def _read_span(path: str, span: np.ndarray) -> bytes:
    with open(path, "rb") as f:
        f.seek(int(span[0]))
        return f.read(int(span[1]))


def decode_person(person: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """Check and convert one person's annotation to float32 arrays of fixed shapes.

    Returns:
        center (2,), scale (2,), keypoints_2d (44, 3), keypoints_3d (44, 4), body_pose (72,), betas (10,),
        has_body_pose (), has_betas ().
    """
    missing = [k for k in PERSON_KEYS if k not in person]
    if missing:
        raise WebDatasetError(f"{where}: person annotation lacks {missing}; found {sorted(person)}")
    out = {k: np.asarray(person[k], dtype=np.float32) for k in PERSON_KEYS}
    out["scale"] = np.broadcast_to(out["scale"].reshape(-1), (2,)).copy() if out["scale"].size in (1, 2) else None
    shapes = {"center": (2,), "scale": (2,), "keypoints_2d": (44, 3), "keypoints_3d": (44, 4), "body_pose": (72,),
              "betas": (10,), "has_body_pose": (), "has_betas": ()}  # fmt: skip
    for k, shape in shapes.items():
        if out[k] is None or out[k].reshape(shape if shape else ()).shape != shape:
            found = None if out[k] is None else out[k].shape
            raise WebDatasetError(f"{where}: {k!r} should have shape {shape}, found {found}")
        out[k] = out[k].reshape(shape)
    return out


def read_item(index: ShardIndex, i: int) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """Item ``i``: (RGB image (H, W, 3) uint8, person annotation (``decode_person``), sample key)."""
    path = index.shards[int(index.shard_id[i])]
    where = f"{path}:{index.keys[i]}"
    raw = np.frombuffer(_read_span(path, index.image_span[i]), dtype=np.uint8)
    bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    if bgr is None:
        raise WebDatasetError(f"{where}: the image member could not be decoded")
    people = _load_pyd(_read_span(path, index.pyd_span[i]), where)
    return np.ascontiguousarray(bgr[:, :, ::-1]), decode_person(people[int(index.person[i])], where), index.keys[i]


def write_shards(folder: str | Path, samples: list[tuple[str, np.ndarray, list[dict[str, Any]]]],
                 per_shard: int, prefix: str = "shard") -> list[Path]:  # fmt: skip
    """Write samples (key, RGB image (H, W, 3) uint8, list of person dicts) as ``<prefix>-NNNNNN.tar`` shards.

    Returns:
        The written shard paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(samples), per_shard):
        path = folder / f"{prefix}-{start // per_shard:06d}.tar"
        with tarfile.open(path, "w") as tar:
            for key, rgb, people in samples[start : start + per_shard]:
                ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
                if not ok:
                    raise WebDatasetError(f"could not JPEG-encode sample {key!r}")
                for name, data in ((f"{key}.jpg", jpg.tobytes()), (f"{key}.data.pyd", pickle.dumps(people, 2))):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        paths.append(path)
    return paths
