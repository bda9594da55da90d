"""The lite engine: works with no licensed files and no GPU.

MediaPipe 0.10.21's BlazePose (detector + full landmark model, shipped in its wheel) runs in its own process in
``.venv-lite`` (``worker.py``, pipes with a JSON header + raw array framing), so mediapipe's pins (numpy<2,
protobuf<5) never constrain the main environment. Its 33 world landmarks become SMPL joint rotations through
inverse kinematics with anatomical joint limits (``ik.py``, pure numpy), and its 2D landmarks place the body in
TokenHMR's full-image camera (``placement.py``). Results use the shared ``PersonResult`` schema, engine "lite".
"""

from .engine import NUM_BETAS, LiteEngine, lite_available, make_lite_engine, person_from_landmarks
from .ik import IKResult, solve_ik
from .limits import JOINT_LIMITS_DEG, JointLimit, clamp_local, joint_limits, within_limits
from .placement import cam_crop_from_full, fit_translation, keypoints_44, project_points
from .process import LITE_PYTHON_ENV, LandmarkObservation, LiteUnavailableError, LiteWorker, find_lite_python
from .skeleton import MARKER_NAMES, MP_LANDMARK_NAMES, Skeleton, forward_kinematics, make_skeleton, posed_markers

__all__ = [
    "IKResult",
    "JOINT_LIMITS_DEG",
    "JointLimit",
    "LITE_PYTHON_ENV",
    "LandmarkObservation",
    "LiteEngine",
    "LiteUnavailableError",
    "LiteWorker",
    "MARKER_NAMES",
    "MP_LANDMARK_NAMES",
    "NUM_BETAS",
    "Skeleton",
    "cam_crop_from_full",
    "clamp_local",
    "find_lite_python",
    "fit_translation",
    "forward_kinematics",
    "joint_limits",
    "keypoints_44",
    "lite_available",
    "make_lite_engine",
    "make_skeleton",
    "person_from_landmarks",
    "posed_markers",
    "project_points",
    "solve_ik",
    "within_limits",
]
