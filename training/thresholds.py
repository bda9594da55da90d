"""TALS thresholds: the file the HMR training reads, its official defaults, and the threshold analysis.

Threshold analysis (paper §3/§4.2): pseudo-GT fits are only trustworthy up to the error that the HMR camera
model itself introduces and up to the accuracy of the fits. Two measurements set the thresholds:

* 2D: take ground-truth bodies with their TRUE camera (any focal length and principal point), project them to
  get the "image evidence", then give the HMR camera model (focal 5000 px for a 256 px crop, principal point at
  the crop centre, only a translation free) the same correct 3D body and fit its translation to that evidence.
  The remaining per-keypoint squared error (crop-normalised, as TALS measures it) is the error a perfect body
  estimate still has under the HMR camera; its per-keypoint statistic is the 2D threshold.
* Pose: per-joint geodesic error between a model's predictions and ground truth; its statistic (times a scale,
  0.8 in the official code) is the pose threshold.

The file is JSON: ``{"keypoints_2d": [44], "body_pose": [23], "global_orient": [1], "source": str}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.losses import joint_angle_error

__all__ = [
    "HMR_FOCAL_PX",
    "HMR_CROP_PX",
    "TALSThresholds",
    "crop_boxes_from_keypoints",
    "default_thresholds",
    "fit_hmr_translation",
    "hmr_camera_keypoint_errors",
    "joint_angle_errors",
    "load_thresholds",
    "save_thresholds",
    "thresholds_from_errors",
]

HMR_FOCAL_PX = 5000.0  # EXTRA.FOCAL_LENGTH: the HMR camera's focal length for a crop of HMR_CROP_PX
HMR_CROP_PX = 256.0  # MODEL.IMAGE_SIZE

# The official constants (tokenhmr/lib/models/losses.py): squared crop-normalised 2D errors per keypoint (44),
# and per-joint angles in radians; the code multiplies the body-pose values by 0.8 before use.
_OFFICIAL_KP2D = (
    0.0085024, 0.00648666, 0.00747825, 0.01103439, 0.01355629, 0.00741691, 0.01096735, 0.01414461, 0.00974212,
    0.01127469, 0.01663222, 0.00564927, 0.01126335, 0.01615757, 0.00532595, 0.00829731, 0.00831497, 0.00737241,
    0.00743286, 0.00543739, 0.00550524, 0.00535504, 0.00565414, 0.00581685, 0.00573041, 0.00554029, 0.01515258,
    0.00986267, 0.00997563, 0.01519944, 0.00511402, 0.01288267, 0.01105894, 0.00710525, 0.00709785, 0.01092387,
    0.01388091, 0.00648326, 0.00766487, 0.00931454, 0.00646622, 0.00677057, 0.00744011, 0.00752381,
)  # fmt: skip
_OFFICIAL_BODY_POSE = (
    0.273709, 0.26481161, 0.1838198, 0.41490657, 0.37521194, 0.20793171, 0.24905021, 0.33887333, 0.14481062,
    0.35632194, 0.34944217, 0.30542146, 0.32835298, 0.33110567, 0.34813467, 0.36357761, 0.40062272, 0.43493496,
    0.4400709, 0.78017052, 0.7375746, 0.24927082, 0.24966981,
)  # fmt: skip
_OFFICIAL_POSE_SCALE = 0.8
_OFFICIAL_GLOBAL_ORIENT = 0.46


@dataclass(frozen=True)
class TALSThresholds:
    """Per-item TALS thresholds."""

    keypoints_2d: tuple[float, ...]  # (44,) squared crop-normalised 2D error per keypoint
    body_pose: tuple[float, ...]  # (23,) radians, SMPL joints 1..23
    global_orient: tuple[float, ...]  # (1,) radians
    source: str = ""  # where the values came from (free text)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The thresholds as float32 tensors keyed ``keypoints_2d``, ``body_pose``, ``global_orient``."""
        return {
            "keypoints_2d": torch.tensor(self.keypoints_2d, dtype=torch.float32),
            "body_pose": torch.tensor(self.body_pose, dtype=torch.float32),
            "global_orient": torch.tensor(self.global_orient, dtype=torch.float32),
        }


def default_thresholds() -> TALSThresholds:
    """The thresholds the official TokenHMR training uses (body pose already scaled by 0.8)."""
    return TALSThresholds(
        keypoints_2d=_OFFICIAL_KP2D,
        body_pose=tuple(v * _OFFICIAL_POSE_SCALE for v in _OFFICIAL_BODY_POSE),
        global_orient=(_OFFICIAL_GLOBAL_ORIENT,),
        source="official TokenHMR tokenhmr/lib/models/losses.py (body_pose x 0.8)",
    )


_SIZES = {"keypoints_2d": 44, "body_pose": 23, "global_orient": 1}


def save_thresholds(thresholds: TALSThresholds, path: str | Path) -> None:
    """Write the thresholds as JSON."""
    data = {
        "keypoints_2d": list(thresholds.keypoints_2d),
        "body_pose": list(thresholds.body_pose),
        "global_orient": list(thresholds.global_orient),
        "source": thresholds.source,
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_thresholds(path: str | Path) -> TALSThresholds:
    """Read a thresholds JSON file, checking every list's length and that values are positive and finite.

    Raises:
        FileNotFoundError, ValueError (naming the file and key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"TALS thresholds file {path} does not exist; write one with `python -m training.thresholds` "
            "or leave the option empty to use the official values"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e
    values = {}
    for key, size in _SIZES.items():
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}; expected keys {sorted(_SIZES)} (+ optional 'source')")
        arr = np.asarray(data[key], dtype=np.float64)
        if arr.shape != (size,):
            raise ValueError(f"{path}: {key!r} must be a list of {size} numbers, found shape {arr.shape}")
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{path}: {key!r} values must be finite and > 0, found min {arr.min()}")
        values[key] = tuple(float(v) for v in arr)
    unknown = sorted(set(data) - set(_SIZES) - {"source"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; expected {sorted(_SIZES)} and 'source'")
    return TALSThresholds(**values, source=str(data.get("source", "")))


def crop_boxes_from_keypoints(keypoints_px: np.ndarray, rescale: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """Square HMR crop boxes around 2D keypoints: side = rescale · max(h, w·256/192), centred on the bbox.

    Args:
        keypoints_px: (N, K, 2) pixels.
        rescale: margin factor.
    Returns:
        (box_center (N, 2) px, box_size (N,) px).
    """
    lo, hi = keypoints_px.min(axis=1), keypoints_px.max(axis=1)
    w, h = hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]
    return (lo + hi) / 2.0, rescale * np.maximum(h, w * 256.0 / 192.0)


def _project(points: np.ndarray, focal: float) -> np.ndarray:
    return focal * points[..., :2] / points[..., 2:3]


def fit_hmr_translation(
    joints: np.ndarray, target: np.ndarray, focal: float = HMR_FOCAL_PX / HMR_CROP_PX, iterations: int = 20
) -> np.ndarray:
    """Translation minimising the squared reprojection error of a pinhole camera with principal point 0.

    Linear least squares (f·(X+tx) − u·(Z+tz) = u·Z − f·X, same for y) gives the start; Gauss-Newton on the true
    geometric error refines it.

    Args:
        joints: (N, K, 3) 3D points in the camera's orientation (metres, any origin).
        target: (N, K, 2) observed points in the same normalised units as ``focal``.
        focal: focal length in those units (HMR: 5000/256 for crop-normalised coordinates).
        iterations: Gauss-Newton steps.
    Returns:
        (N, 3) translations t such that project(joints + t) ≈ target.
    """
    joints = joints.astype(np.float64)
    target = target.astype(np.float64)
    n, k, _ = joints.shape
    x, y, z = joints[..., 0], joints[..., 1], joints[..., 2]
    u, v = target[..., 0], target[..., 1]
    a = np.zeros((n, 2 * k, 3))
    a[:, :k, 0] = focal
    a[:, :k, 2] = -u
    a[:, k:, 1] = focal
    a[:, k:, 2] = -v
    b = np.concatenate([u * z - focal * x, v * z - focal * y], axis=1)
    t = np.linalg.solve(a.transpose(0, 2, 1) @ a, (a.transpose(0, 2, 1) @ b[..., None]))[..., 0]
    for _ in range(iterations):
        p = joints + t[:, None, :]
        px, py, pz = p[..., 0], p[..., 1], p[..., 2]
        residual = np.concatenate([focal * px / pz - u, focal * py / pz - v], axis=1)
        jac = np.zeros((n, 2 * k, 3))
        jac[:, :k, 0] = focal / pz
        jac[:, :k, 2] = -focal * px / pz**2
        jac[:, k:, 1] = focal / pz
        jac[:, k:, 2] = -focal * py / pz**2
        jtj = jac.transpose(0, 2, 1) @ jac
        step = np.linalg.solve(jtj, (jac.transpose(0, 2, 1) @ residual[..., None]))[..., 0]
        t = t - step
    return t


def hmr_camera_keypoint_errors(
    joints_cam: np.ndarray,
    focal_px: np.ndarray,
    principal_px: np.ndarray,
    box_center: np.ndarray | None = None,
    box_size: np.ndarray | None = None,
) -> np.ndarray:
    """Per-keypoint squared 2D error left when the HMR camera model explains a true-camera projection.

    Args:
        joints_cam: (N, K, 3) ground-truth keypoints in the TRUE camera frame (metres, OpenCV axes, z forward).
        focal_px: (N,) or (N, 2) true focal length(s) in pixels.
        principal_px: (N, 2) true principal point in pixels.
        box_center: (N, 2) crop centre in pixels; default: around the projected keypoints.
        box_size: (N,) crop side in pixels; default: around the projected keypoints.
    Returns:
        (N, K) errors Σ_xy (hmr − gt)² in crop-normalised units ((pixels − centre) / side), the units of TALS.
    """
    focal = np.asarray(focal_px, dtype=np.float64)
    focal = np.stack([focal, focal], -1) if focal.ndim == 1 else focal
    joints_cam = np.asarray(joints_cam, dtype=np.float64)
    uv = focal[:, None, :] * joints_cam[..., :2] / joints_cam[..., 2:3] + np.asarray(principal_px)[:, None, :]
    if box_center is None or box_size is None:
        box_center, box_size = crop_boxes_from_keypoints(uv)
    gt = (uv - np.asarray(box_center)[:, None, :]) / np.asarray(box_size)[:, None, None]
    # The crop is rotation-free, so the HMR camera sees the body in the true camera's orientation; its only
    # freedom is the translation (what pred_cam encodes).
    focal_norm = HMR_FOCAL_PX / HMR_CROP_PX
    t = fit_hmr_translation(joints_cam, gt, focal_norm)
    pred = _project(joints_cam + t[:, None, :], focal_norm)
    return ((pred - gt) ** 2).sum(axis=-1)


def joint_angle_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-joint geodesic errors in radians: (N, J, 3, 3) × 2 → (N, J)."""
    return joint_angle_error(pred.double(), gt.double())


def thresholds_from_errors(
    keypoint_errors: np.ndarray,
    body_pose_errors: np.ndarray,
    global_orient_errors: np.ndarray,
    statistic: str = "mean",
    pose_scale: float = 0.8,
    source: str = "",
) -> TALSThresholds:
    """Reduce per-sample errors to thresholds.

    Args:
        keypoint_errors: (N, 44) from ``hmr_camera_keypoint_errors``.
        body_pose_errors: (N, 23) radians, from ``joint_angle_errors``.
        global_orient_errors: (N, 1) radians.
        statistic: ``"mean"``, ``"median"`` or ``"pXX"`` (a percentile, e.g. ``"p75"``).
        pose_scale: multiplies the body-pose thresholds (official: 0.8; global orient is not scaled).
        source: text stored in the file.
    Returns:
        The thresholds.
    Raises:
        ValueError: a wrong shape or an unknown statistic.
    """
    for name, arr, width in (
        ("keypoint_errors", keypoint_errors, 44),
        ("body_pose_errors", body_pose_errors, 23),
        ("global_orient_errors", global_orient_errors, 1),
    ):
        if arr.ndim != 2 or arr.shape[1] != width or arr.shape[0] == 0:
            raise ValueError(f"{name}: expected shape (N>0, {width}), found {arr.shape}")

    def reduce(arr: np.ndarray) -> np.ndarray:
        if statistic == "mean":
            return arr.mean(axis=0)
        if statistic == "median":
            return np.median(arr, axis=0)
        if statistic.startswith("p") and statistic[1:].replace(".", "", 1).isdigit():
            return np.percentile(arr, float(statistic[1:]), axis=0)
        raise ValueError(f"statistic must be 'mean', 'median' or 'pXX' (e.g. 'p75'), found {statistic!r}")

    # A threshold of exactly 0 would make every keypoint "above": keep a tiny floor so the file validates.
    floor = 1e-12
    return TALSThresholds(
        keypoints_2d=tuple(float(max(v, floor)) for v in reduce(keypoint_errors)),
        body_pose=tuple(float(max(v * pose_scale, floor)) for v in reduce(body_pose_errors)),
        # Official: the body-pose values are scaled by 0.8, the global orientation value is used as is.
        global_orient=tuple(float(max(v, floor)) for v in reduce(global_orient_errors)),
        source=source or f"threshold analysis, statistic {statistic}, pose scale {pose_scale}",
    )


_INPUT_KEYS = (
    "keypoints_3d_cam (N,44,3) m, focal_px (N,) or (N,2), principal_px (N,2), pred_body_pose (N,23,3,3), "
    "gt_body_pose (N,23,3,3), pred_global_orient (N,1,3,3), gt_global_orient (N,1,3,3); optional box_center (N,2), "
    "box_size (N,)"
)


_REQUIRED_KEYS = (
    "keypoints_3d_cam", "focal_px", "principal_px", "pred_body_pose", "gt_body_pose", "pred_global_orient",
    "gt_global_orient",
)


def thresholds_from_npz(path: str | Path, statistic: str = "mean", pose_scale: float = 0.8) -> TALSThresholds:
    """Run the threshold analysis on an ``.npz`` holding ``_INPUT_KEYS``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"analysis input {path} does not exist; it must hold {_INPUT_KEYS}")
    with np.load(path) as data:
        missing = [k for k in _REQUIRED_KEYS if k not in data]
        if missing:
            raise ValueError(f"{path}: missing key(s) {missing}; expected {_INPUT_KEYS}")
        kp_err = hmr_camera_keypoint_errors(
            data["keypoints_3d_cam"], data["focal_px"], data["principal_px"],
            data["box_center"] if "box_center" in data else None, data["box_size"] if "box_size" in data else None,
        )
        pose_err = joint_angle_errors(torch.from_numpy(data["pred_body_pose"]), torch.from_numpy(data["gt_body_pose"]))
        go_err = joint_angle_errors(
            torch.from_numpy(data["pred_global_orient"]), torch.from_numpy(data["gt_global_orient"])
        )
    return thresholds_from_errors(
        kp_err, pose_err.numpy(), go_err.numpy(), statistic, pose_scale, source=f"threshold analysis of {path.name}"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m training.thresholds --input analysis.npz --out tals_thresholds.json [--statistic mean]``."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(description="TALS threshold analysis: writes the thresholds file for training.hmr")
    parser.add_argument("--input", required=True, help=f"npz with {_INPUT_KEYS}")
    parser.add_argument("--out", required=True, help="thresholds JSON to write")
    parser.add_argument("--statistic", default="mean", help="mean, median or pXX (percentile)")
    parser.add_argument("--pose-scale", type=float, default=0.8, help="scale of the body-pose thresholds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    thresholds = thresholds_from_npz(args.input, args.statistic, args.pose_scale)
    save_thresholds(thresholds, args.out)
    logging.getLogger(__name__).info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
