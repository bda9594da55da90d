"""Readers for the public annotation formats used to evaluate human mesh recovery and tracking.

- 3DPW (von Marcard et al. 2018): ``sequenceFiles/{train,validation,test}/*.pkl``, Python-2 pickles (latin-1)
  holding per-actor lists: ``poses`` (N,72) axis-angle in the world frame, ``betas`` (10,), ``trans`` (N,3),
  ``genders`` ('m'/'f'), ``poses2d`` (N,3,18) COCO-18 detections, ``campose_valid`` (N,), and per-frame
  ``cam_poses`` (N,4,4) world→camera plus ``cam_intrinsics`` (3,3). Images are
  ``imageFiles/<sequence>/image_%05d.jpg``.
- EMDB (Kaufmann et al. 2023): ``P*/<seq>/P*_<seq>_data.pkl`` with ``smpl`` {poses_root (N,3), poses_body (N,69),
  trans (N,3), betas (10,)}, ``camera`` {intrinsics, extrinsics (N,4,4) world→camera, width, height},
  ``good_frames_mask``, ``bboxes`` {bboxes (N,4) xyxy, invalid_idxs}, ``emdb1`` / ``emdb2`` split flags.
  Images are ``images/%05d.jpg``.
- PoseTrack 2018 (Andriluka et al. 2018): one JSON per video with COCO-style ``images`` and ``annotations``
  (``track_id``, ``bbox`` xywh, ``keypoints`` 17×3).

Every reader returns camera-frame ground truth as plain numpy (axis-angle rotations, SMPL joint order), so the
evaluation code never touches a format's quirks.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = [
    "BodySample",
    "read_3dpw",
    "read_emdb",
    "read_posetrack",
    "posetrack_video_images",
    "PoseTrackFrame",
    "DatasetFormatError",
]

THREEDPW_SPLITS = ("train", "validation", "test")


class DatasetFormatError(ValueError):
    """A dataset file does not have the layout of the public release."""


@dataclass(frozen=True)
class BodySample:
    """One ground-truth person in one image, in that image's camera frame (OpenCV axes).

    Attributes:
        sequence: sequence name.
        frame_index: index of the image in its sequence.
        person_index: which actor of the sequence.
        image_path: the image file.
        gender: "male", "female" or "neutral": which SMPL model produced the ground truth.
        global_orient: (3,) axis-angle of the pelvis in the camera frame.
        body_pose: (69,) axis-angle of joints 1..23.
        betas: (10,) shape.
        bbox_xyxy: (4,) person box in pixels.
        intrinsics: (3, 3) camera matrix.
    """

    sequence: str
    frame_index: int
    person_index: int
    image_path: Path
    gender: str
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    bbox_xyxy: np.ndarray
    intrinsics: np.ndarray


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such annotation file")
    with open(path, "rb") as f:
        try:
            data = pickle.load(f, encoding="latin1")
        except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as e:
            raise DatasetFormatError(f"{path}: cannot be read as an annotation pickle ({e})") from e
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: expected a dict at the top level; found {type(data).__name__}")
    return data


def _require(data: dict, keys: tuple[str, ...], path: Path, what: str) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise DatasetFormatError(f"{path}: not a {what} file: missing keys {missing}; found {sorted(data)[:12]}")


def _camera_orient(cam_rotation: np.ndarray, world_orient_aa: np.ndarray) -> np.ndarray:
    """Pelvis orientation in the camera frame: R_cam · R_world (axis-angle in, axis-angle out)."""
    r = Rotation.from_matrix(cam_rotation) * Rotation.from_rotvec(world_orient_aa)
    return r.as_rotvec()


def _bbox_from_keypoints(kp: np.ndarray, conf: np.ndarray, scale: float = 1.2) -> np.ndarray | None:
    """The SPIN 3DPW test box (``datasets/preprocess/pw3d.py``, used by every later 3DPW evaluation): the tight box
    of the keypoints with confidence > 0, made square on its longer side and enlarged by ``scale``. None when no
    keypoint has confidence (SPIN would fail on such a frame; the 3DPW test split has none)."""
    ok = conf > 0
    if not ok.any():
        return None
    pts = kp[ok]
    lo, hi = pts.min(0), pts.max(0)
    center = 0.5 * (lo + hi)
    half = 0.5 * scale * (hi - lo).max()
    return np.array([center[0] - half, center[1] - half, center[0] + half, center[1] + half])


def read_3dpw(root: str | Path, split: str = "test") -> Iterator[BodySample]:
    """Yields every valid (camera pose aligned, person visible) person of a 3DPW split.

    Args:
        root: the 3DPW folder holding ``sequenceFiles/`` and ``imageFiles/``.
        split: "train", "validation" or "test".
    """
    if split not in THREEDPW_SPLITS:
        raise ValueError(f"3DPW split must be one of {THREEDPW_SPLITS}; got {split!r}")
    root = Path(root)
    folder = root / "sequenceFiles" / split
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise FileNotFoundError(f"{folder}: no 3DPW sequence files; expected sequenceFiles/{split}/*.pkl "
                                "from the 3DPW download (virtualhumans.mpi-inf.mpg.de/3DPW)")
    for path in files:
        data = _load_pickle(path)
        _require(data, ("sequence", "poses", "betas", "genders", "cam_poses", "cam_intrinsics", "campose_valid",
                        "poses2d"), path, "3DPW sequence")
        name = str(data["sequence"])
        cam_poses = np.asarray(data["cam_poses"], dtype=np.float64)
        intrinsics = np.asarray(data["cam_intrinsics"], dtype=np.float64)
        for person, poses in enumerate(data["poses"]):
            poses = np.asarray(poses, dtype=np.float64)
            valid = np.asarray(data["campose_valid"][person]).astype(bool)
            betas = np.asarray(data["betas"][person], dtype=np.float64).reshape(-1)[:10]
            gender = {"m": "male", "f": "female"}.get(str(data["genders"][person]), "neutral")
            kp2d = np.asarray(data["poses2d"][person], dtype=np.float64)  # (N, 3, 18)
            for i in range(poses.shape[0]):
                if not valid[i]:
                    continue
                box = _bbox_from_keypoints(kp2d[i, :2].T, kp2d[i, 2])
                if box is None:
                    continue
                yield BodySample(
                    sequence=name, frame_index=i, person_index=person,
                    image_path=root / "imageFiles" / name / f"image_{i:05d}.jpg", gender=gender,
                    global_orient=_camera_orient(cam_poses[i, :3, :3], poses[i, :3]), body_pose=poses[i, 3:72],
                    betas=betas, bbox_xyxy=box, intrinsics=intrinsics,
                )


def read_emdb(root: str | Path, protocol: int = 1) -> Iterator[BodySample]:
    """Yields the good frames of the EMDB sequences of a protocol (1: EMDB 1, the RGB baselines' split).

    Args:
        root: the EMDB folder holding ``P0`` .. ``P9``.
        protocol: 1 (``emdb1`` sequences) or 2 (``emdb2``).
    """
    if protocol not in (1, 2):
        raise ValueError(f"EMDB protocol must be 1 or 2; got {protocol!r}")
    root = Path(root)
    files = sorted(root.glob("P*/*/*_data.pkl"))
    if not files:
        raise FileNotFoundError(f"{root}: no EMDB sequences; expected P*/<sequence>/P*_<sequence>_data.pkl "
                                "from the EMDB download (emdb.ait.ethz.ch)")
    for path in files:
        data = _load_pickle(path)
        _require(data, ("name", "gender", "smpl", "camera", "good_frames_mask", "bboxes", "emdb1", "emdb2"),
                 path, "EMDB sequence")
        if not data[f"emdb{protocol}"]:
            continue
        smpl, cam = data["smpl"], data["camera"]
        extr = np.asarray(cam["extrinsics"], dtype=np.float64)
        good = np.asarray(data["good_frames_mask"]).astype(bool)
        invalid = set(int(v) for v in np.asarray(data["bboxes"]["invalid_idxs"]).reshape(-1))
        boxes = np.asarray(data["bboxes"]["bboxes"], dtype=np.float64)
        for i in range(len(good)):
            if not good[i] or i in invalid:
                continue
            yield BodySample(
                sequence=str(data["name"]), frame_index=i, person_index=0,
                image_path=path.parent / "images" / f"{i:05d}.jpg", gender=str(data["gender"]),
                global_orient=_camera_orient(extr[i, :3, :3], np.asarray(smpl["poses_root"][i], dtype=np.float64)),
                body_pose=np.asarray(smpl["poses_body"][i], dtype=np.float64),
                betas=np.asarray(smpl["betas"], dtype=np.float64).reshape(-1)[:10], bbox_xyxy=boxes[i],
                intrinsics=np.asarray(cam["intrinsics"], dtype=np.float64),
            )


@dataclass(frozen=True)
class PoseTrackFrame:
    """Ground truth of one labelled PoseTrack frame.

    Attributes:
        image_path: relative image path as in the JSON (``images/val/<video>/<frame>.jpg``).
        frame_id: the frame number in its video.
        track_ids: (N,) int identities.
        boxes_xyxy: (N, 4) person boxes.
        keypoints: (N, 17, 3) keypoints with visibility.
    """

    image_path: str
    frame_id: int
    track_ids: np.ndarray
    boxes_xyxy: np.ndarray
    keypoints: np.ndarray


def read_posetrack(json_path: str | Path) -> list[PoseTrackFrame]:
    """Reads one PoseTrack 2018 video annotation file; returns its labelled frames in time order."""
    json_path = Path(json_path)
    try:
        data = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFormatError(f"{json_path}: not valid JSON ({e})") from e
    _require(data, ("images", "annotations"), json_path, "PoseTrack annotation")
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        if "track_id" not in ann or "bbox" not in ann:
            continue  # PoseTrack leaves some crowd annotations without a box
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    frames = []
    for img in sorted(data["images"], key=lambda im: int(im.get("frame_id", im["id"]))):
        if not img.get("is_labeled", True):
            continue
        anns = by_image.get(int(img["id"]), [])
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns], dtype=np.float64).reshape(-1, 4)
        kps = np.array([np.asarray(a.get("keypoints", [0] * 51), dtype=np.float64).reshape(17, 3) for a in anns])
        frames.append(PoseTrackFrame(
            image_path=str(img["file_name"]), frame_id=int(img.get("frame_id", img["id"])),
            track_ids=np.array([int(a["track_id"]) for a in anns], dtype=np.int64), boxes_xyxy=boxes,
            keypoints=kps.reshape(-1, 17, 3),
        ))
    return frames


def posetrack_video_images(json_path: str | Path) -> list[tuple[int, str]]:
    """Every frame of one PoseTrack video, labelled or not, in time order: [(frame_id, file_name)], where
    ``file_name`` is relative to the PoseTrack root (``images/val/<video>/<frame>.jpg``)."""
    json_path = Path(json_path)
    try:
        data = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFormatError(f"{json_path}: not valid JSON ({e})") from e
    _require(data, ("images",), json_path, "PoseTrack annotation")
    frames = sorted((int(im.get("frame_id", im["id"])), str(im["file_name"])) for im in data["images"])
    ids = [f for f, _ in frames]
    if len(set(ids)) != len(ids):
        raise DatasetFormatError(f"{json_path}: two images share a frame_id; cannot order the video")
    return frames
