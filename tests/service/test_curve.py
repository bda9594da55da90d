"""CurveZMQ: a client with an unknown key gets nothing; an allowed key works; non-loopback binds need CURVE."""

from __future__ import annotations

import shutil

import pytest

from backend.client import ClientCurveKeys, ServerUnavailable
from backend.service import CurveConfig, ServerConfig, generate_keypair


@pytest.fixture
def keys(tmp_path):
    server_pub, server_secret = generate_keypair(tmp_path / "server", "server")
    allowed_pub, allowed_secret = generate_keypair(tmp_path / "clients", "alice")
    _, stranger_secret = generate_keypair(tmp_path / "strangers", "mallory")
    allow_list = tmp_path / "allowed"
    allow_list.mkdir()
    shutil.copy(allowed_pub, allow_list / "alice.key")
    return {"server_pub": server_pub, "server_secret": server_secret, "allow_list": allow_list,
            "alice": allowed_secret, "mallory": stranger_secret}


def test_allowed_key_works_and_unknown_key_gets_nothing(start_server, make_client, keys):
    running = start_server(engine_factory=lambda name: None,
                           curve=CurveConfig(keys["server_secret"], keys["allow_list"]))
    alice = make_client(running.address, curve=ClientCurveKeys.from_files(keys["server_pub"], keys["alice"]))
    hello = alice.hello()
    assert hello["encrypted"] is True, hello
    mallory = make_client(running.address, curve=ClientCurveKeys.from_files(keys["server_pub"], keys["mallory"]))
    with pytest.raises(ServerUnavailable):
        mallory.hello(timeout_ms=700, retries=1)
    plaintext = make_client(running.address)
    with pytest.raises(ServerUnavailable):
        plaintext.hello(timeout_ms=700, retries=1)
    assert alice.ping() > 0, "the allowed client stopped working after the refused ones"


def test_non_loopback_bind_is_refused_without_curve(tmp_path):
    with pytest.raises(ValueError, match="CURVE"):
        ServerConfig(address="tcp://0.0.0.0:5555").check()
    with pytest.raises(ValueError, match="CURVE"):
        ServerConfig(address="tcp://*:5555").check()
    ServerConfig(address="tcp://127.0.0.1:5555").check()  # loopback needs nothing


def test_curve_config_names_missing_files(tmp_path, keys):
    with pytest.raises(FileNotFoundError, match="tokenmocap keys generate"):
        CurveConfig(tmp_path / "nope.key_secret", keys["allow_list"]).check()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no public key files"):
        CurveConfig(keys["server_secret"], empty).check()


def test_reconstruct_command_through_an_encrypted_server(start_server, keys, tmp_path, astronaut_bgr):
    import json

    import cv2

    from backend import cli

    from .probe_engine import ProbeEngine

    engine = ProbeEngine()
    running = start_server(engine_factory=lambda name: engine,
                           curve=CurveConfig(keys["server_secret"], keys["allow_list"]))
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), astronaut_bgr)
    args = ["reconstruct", str(image), "--server", running.address, "--box", "0,0,256,256", "--timeout-ms", "3000",
            "--curve-server-key", str(keys["server_pub"])]
    assert cli.main([*args, "--curve-client-secret", str(keys["alice"]), "--out", str(tmp_path / "r.json")]) == 0
    score = json.loads((tmp_path / "r.json").read_text())["people"][0]["score"]
    expected = astronaut_bgr[:256, :256].mean() / 255
    assert abs(score - expected) < 1e-4, (score, expected)
    assert cli.main([*args, "--curve-client-secret", str(keys["mallory"]), "--timeout-ms", "700"]) == 1
