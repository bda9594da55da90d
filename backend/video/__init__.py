"""Video mocap: decoding, multi-person tracking, smoothing, foot contact, resumable jobs and the streaming session."""

from .appearance import APPEARANCE_DIM, appearance_distance, appearance_embedding
from .decode import VideoInfo, VideoReadError, fps_fraction, iter_video_frames, probe_video
from .foot_contact import FootContactConfig, detect_foot_contacts, estimate_up, remove_foot_skating
from .job import JobOptions, JobResult, run_video_job
from .jobs import FrameLog, JobFileError, read_frame_log
from .people_tracking import PeopleTracker, TrackedPerson
from .pipeline import PipelineConfig, StageTimes, run_pipeline, run_pipeline_timed
from .rotations import axis_angle_to_rotmat, rot6d_to_rotmat, rotmat_to_6d, rotmat_to_axis_angle
from .sequences import TrackSequence, build_sequences, frame_record, parse_frame_record, write_track_npz
from .session import FrameResult, TrackState, VideoOptions, VideoSession
from .skeleton import SkeletonModel, skeleton_for_engine, skeleton_for_models_dir
from .smoothing import OneEuroFilter, SmoothingConfig, robust_betas, smooth_offline, smooth_rotations_offline
from .tracker import ConfirmationBuffer, Detection, Tracker, TrackerConfig, TrackOutput, pose_distance

__all__ = [
    "APPEARANCE_DIM",
    "ConfirmationBuffer",
    "Detection",
    "FootContactConfig",
    "FrameLog",
    "FrameResult",
    "JobFileError",
    "JobOptions",
    "JobResult",
    "OneEuroFilter",
    "PeopleTracker",
    "PipelineConfig",
    "SkeletonModel",
    "SmoothingConfig",
    "StageTimes",
    "TrackOutput",
    "TrackSequence",
    "TrackState",
    "TrackedPerson",
    "Tracker",
    "TrackerConfig",
    "VideoInfo",
    "VideoOptions",
    "VideoReadError",
    "VideoSession",
    "appearance_distance",
    "appearance_embedding",
    "axis_angle_to_rotmat",
    "build_sequences",
    "detect_foot_contacts",
    "estimate_up",
    "fps_fraction",
    "frame_record",
    "iter_video_frames",
    "parse_frame_record",
    "pose_distance",
    "probe_video",
    "read_frame_log",
    "remove_foot_skating",
    "robust_betas",
    "rot6d_to_rotmat",
    "rotmat_to_6d",
    "rotmat_to_axis_angle",
    "run_pipeline",
    "run_pipeline_timed",
    "run_video_job",
    "skeleton_for_engine",
    "skeleton_for_models_dir",
    "smooth_offline",
    "smooth_rotations_offline",
    "write_track_npz",
]
