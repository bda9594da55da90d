"""The TokenMocap backend service: ZeroMQ server, pipeline stages, CURVE security and multi-process workers."""

from backend.service.config import CurveConfig, ServerConfig
from backend.service.pipeline import EngineProvider, Job, Pipeline
from backend.service.security import generate_keypair
from backend.service.server import Server

__all__ = ["CurveConfig", "ServerConfig", "Server", "Pipeline", "Job", "EngineProvider", "generate_keypair"]
