"""SMPL (via smplx, chumpy-free file loading), synthetic SMPL-format files for tests, and the built-in mannequin."""

from .joint_names import (
    KEYPOINT_NAMES,
    NUM_BODY_JOINTS,
    NUM_KEYPOINTS,
    NUM_SMPL_JOINTS,
    PELVIS_KEYPOINT_INDEX,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_TO_OPENPOSE,
)
from .mannequin import MANNEQUIN_JOINTS, MannequinMesh, build_mannequin
from .rest import INSTALLED_SMPL_RELPATH, RestBody, mannequin_rest_body, rest_body, smpl_rest_body
from .smpl import SMPLBody, SMPLBodyOutput
from .smpl_files import (
    SMPL_INSTALL_HINT,
    SMPLData,
    SMPLFileError,
    SMPLMeanParams,
    load_joint_regressor_extra,
    load_smpl_data,
    load_smpl_mean_params,
)
from .synthetic import SMPL_NUM_VERTICES, SyntheticSMPLFiles, write_synthetic_smpl_files

__all__ = [
    "INSTALLED_SMPL_RELPATH",
    "KEYPOINT_NAMES",
    "MANNEQUIN_JOINTS",
    "NUM_BODY_JOINTS",
    "NUM_KEYPOINTS",
    "NUM_SMPL_JOINTS",
    "PELVIS_KEYPOINT_INDEX",
    "SMPL_INSTALL_HINT",
    "SMPL_JOINT_NAMES",
    "SMPL_NUM_VERTICES",
    "SMPL_PARENTS",
    "SMPL_TO_OPENPOSE",
    "MannequinMesh",
    "RestBody",
    "SMPLBody",
    "SMPLBodyOutput",
    "SMPLData",
    "SMPLFileError",
    "SMPLMeanParams",
    "SyntheticSMPLFiles",
    "build_mannequin",
    "load_joint_regressor_extra",
    "load_smpl_data",
    "load_smpl_mean_params",
    "mannequin_rest_body",
    "rest_body",
    "smpl_rest_body",
    "write_synthetic_smpl_files",
]
