"""The add-on's connection to the backend: a DEALER socket on a worker thread, job state machines (no bpy).

``protocol.py`` is the backend's wire protocol module itself (a symlink in the repository, a copy in the built
extension).
"""

from . import protocol
from .jobs import CharacterReady, ImageJob, JobError, VideoJob, VideoOptions
from .worker import BridgeEvent, BridgeWorker, CurveKeyPair, check_online_access

__all__ = [
    "BridgeEvent",
    "BridgeWorker",
    "CharacterReady",
    "CurveKeyPair",
    "ImageJob",
    "JobError",
    "VideoJob",
    "VideoOptions",
    "check_online_access",
    "protocol",
]
