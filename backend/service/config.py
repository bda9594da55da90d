"""Server settings (a frozen dataclass, one comment per field) and the CURVE key configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backend.protocol import DEFAULT_ADDRESS, DEFAULT_LIMITS, SHUTDOWN_GRACE_MS, Limits, is_loopback_address

__all__ = ["CurveConfig", "ServerConfig"]


@dataclass(frozen=True)
class CurveConfig:
    """CurveZMQ encryption and client authentication (ZAP) for a server reachable from other machines.

    Key files are the ones ``zmq.auth.create_certificates`` (or ``tokenmocap keys``) writes.
    """

    server_secret_file: Path  # the server's "<name>.key_secret" certificate (holds both keys)
    clients_dir: Path  # folder of allowed clients' public "<name>.key" certificates (the allow-list)

    def check(self) -> None:
        """Raise FileNotFoundError / ValueError naming the file when the configuration cannot work."""
        if not Path(self.server_secret_file).is_file():
            raise FileNotFoundError(
                f"CURVE server secret key {self.server_secret_file} not found; create one with: "
                f"tokenmocap keys generate DIR server")
        clients = Path(self.clients_dir)
        if not clients.is_dir() or not any(clients.glob("*.key")):
            raise ValueError(
                f"CURVE client allow-list {clients} has no public key files (*.key); copy each allowed client's "
                "public '<name>.key' there (tokenmocap keys generate DIR NAME makes a pair)")


@dataclass(frozen=True)
class ServerConfig:
    """How ``tokenmocap serve`` runs."""

    address: str = DEFAULT_ADDRESS  # endpoint the ROUTER binds (or the worker DEALER connects to)
    engine: str = "auto"  # default engine for requests that name none: auto | tokenhmr | hmr2 | lite
    models_dir: Path | None = None  # installed models; None = backend.paths.models_dir()
    detector: str = "auto"  # person detector for images sent without boxes
    device: str | None = None  # torch device; None = CUDA when available, else CPU
    max_batch: int = 16  # most crops in one forward pass (requests from several clients share a batch)
    batch_wait_ms: float = 2.0  # how long the inference stage waits for more crops before a partial batch
    prepare_queue_size: int = 16  # requests waiting for decode/detect/crop; when full the server stops reading
    infer_queue_size: int = 16  # prepared requests waiting for the forward pass
    prepare_threads: int = 2  # threads decoding, detecting and cropping (OpenCV and torch release the GIL)
    limits: Limits = DEFAULT_LIMITS  # wire limits checked on every request
    curve: CurveConfig | None = None  # encryption + allow-list; required for a non-loopback bind
    shutdown_grace_ms: int = SHUTDOWN_GRACE_MS  # time running requests get to finish at shutdown
    preload: bool = False  # load the default engine in the background at start (first request does not wait)
    connect: bool = False  # worker mode: connect a DEALER to `address` (a broker) instead of binding a ROUTER
    extra_hello: dict = field(default_factory=dict)  # fields added to the hello reply (e.g. worker index)

    def check(self) -> None:
        """Raise ValueError with the fix when the configuration is unsafe or inconsistent."""
        if self.max_batch < 1 or self.prepare_queue_size < 1 or self.infer_queue_size < 1 or self.prepare_threads < 1:
            raise ValueError("max_batch, queue sizes and prepare_threads must be >= 1")
        if not self.connect and not is_loopback_address(self.address) and self.curve is None:
            raise ValueError(
                f"refusing to bind {self.address}: it is reachable from other machines and no CURVE keys are "
                "configured. Bind tcp://127.0.0.1:PORT, or pass --curve-secret SERVER.key_secret and "
                "--curve-clients DIR_OF_ALLOWED_CLIENT_KEYS (create them with: tokenmocap keys generate DIR NAME)")
        if self.curve is not None:
            self.curve.check()
