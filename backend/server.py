"""Entry point of the backend service (``tokenmocap serve``); the implementation lives in ``backend.service``."""

from backend.service import CurveConfig, Server, ServerConfig

__all__ = ["Server", "ServerConfig", "CurveConfig"]
