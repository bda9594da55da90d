"""Fixtures for the service tests: a real server on 127.0.0.1 (random port) in a thread, real clients, and a
ZeroMQ context terminated under a timeout that fails on leaked sockets."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import zmq

from backend.client import Client
from backend.service import Server, ServerConfig

from .probe_engine import ProbeEngine

TERM_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 10.0


class RunningServer:
    def __init__(self, server: Server, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread
        self.address = server.address

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(STOP_TIMEOUT_S)
        assert not self.thread.is_alive(), f"server did not stop within {STOP_TIMEOUT_S} s"


@pytest.fixture
def start_server(tmp_path):
    started: list[RunningServer] = []

    def _start(engine_factory=None, **overrides) -> RunningServer:
        config = replace(ServerConfig(address="tcp://127.0.0.1:*", models_dir=tmp_path / "models",
                                      batch_wait_ms=5.0), **overrides)
        server = Server(config, engine_factory=engine_factory)
        thread = threading.Thread(target=server.run, name="test-server", daemon=True)
        thread.start()
        server.wait_bound(10.0)
        running = RunningServer(server, thread)
        started.append(running)
        return running

    yield _start
    for running in started:
        if running.thread.is_alive():
            running.stop()


@pytest.fixture
def probe_server(start_server):
    """A server whose every engine name maps to one ProbeEngine (returned as .engine)."""
    engine = ProbeEngine()
    running = start_server(engine_factory=lambda name: engine)
    running.engine = engine
    return running


@pytest.fixture
def zmq_context():
    context = zmq.Context()
    yield context
    done = threading.Event()
    threading.Thread(target=lambda: (context.term(), done.set()), daemon=True).start()
    assert done.wait(TERM_TIMEOUT_S), "zmq context did not terminate: a socket was left open"


@pytest.fixture
def make_client(zmq_context):
    clients: list[Client] = []

    def _make(address: str, **kwargs) -> Client:
        kwargs.setdefault("timeout_ms", 5_000)
        kwargs.setdefault("retries", 1)
        client = Client(address, context=zmq_context, **kwargs)
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def installed_models(tmp_path_factory):
    """A models dir filled by `tokenmocap models install` from H1's tiny TokenHMR + H2's synthetic SMPL files."""
    from backend import cli
    from backend.body import write_synthetic_smpl_files
    from backend.models import write_tiny_tokenhmr_files

    root = tmp_path_factory.mktemp("downloads")
    write_tiny_tokenhmr_files(root / "data" / "checkpoints", seed=3)
    write_synthetic_smpl_files(root / "data" / "body_models", seed=3)
    models = tmp_path_factory.mktemp("models")
    assert cli.main(["models", "install", str(root), "--models-dir", str(models)]) == 0
    return models


@pytest.fixture(scope="session")
def astronaut_bgr():
    import numpy as np
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])


@pytest.fixture(scope="session")
def reference_engine(installed_models):
    """The installed tiny TokenHMR loaded in-process, to compare served results with."""
    from backend.engines import load_hmr_engine

    engine = load_hmr_engine("tokenhmr", installed_models, device="cpu", detector="full_frame")
    yield engine
    engine.close()
