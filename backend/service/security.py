"""CurveZMQ for remote use: server keys, the client allow-list (ZAP via ``zmq.auth``) and key generation."""

from __future__ import annotations

import logging
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from backend.service.config import CurveConfig

__all__ = ["generate_keypair", "start_authenticator", "apply_server_curve"]

log = logging.getLogger(__name__)


def generate_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.key`` (public, give it to the other side) and ``<name>.key_secret`` (keep private).

    Returns:
        (public_file, secret_file).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def start_authenticator(context: zmq.Context, curve: CurveConfig) -> ThreadAuthenticator:
    """Start the ZAP handler: only clients whose public key is in ``curve.clients_dir`` may connect.

    An unknown key fails the CURVE handshake, so that client never gets any reply.
    """
    auth = ThreadAuthenticator(context, log=logging.getLogger("backend.service.zap"))
    auth.start()
    auth.configure_curve(domain="*", location=str(Path(curve.clients_dir)))
    log.info("CURVE enabled; allowed client keys from %s", curve.clients_dir)
    return auth


def apply_server_curve(socket: zmq.Socket, curve: CurveConfig) -> None:
    """Make ``socket`` a CURVE server with the configured key pair (call before bind)."""
    public, secret = zmq.auth.load_certificate(str(Path(curve.server_secret_file)))
    if secret is None:
        raise ValueError(f"{curve.server_secret_file} holds no secret key; pass the '<name>.key_secret' file, "
                         "not the public '<name>.key'")
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
