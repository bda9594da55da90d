"""Scale-out: two CPU worker processes behind one front address (broker), real model in each."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from backend.service import ServerConfig
from backend.service.workers import Broker

from .test_model_service import BOXES, _assert_people_close


@pytest.fixture(scope="module")
def broker(installed_models):
    config = ServerConfig(address="tcp://127.0.0.1:*", models_dir=installed_models, engine="tokenhmr",
                          detector="full_frame", device="cpu", prepare_threads=1, shutdown_grace_ms=1000)
    broker = Broker(config, workers=2)
    thread = threading.Thread(target=broker.run, daemon=True)
    thread.start()
    broker.wait_bound(30)
    broker.wait_workers(120)
    yield broker
    broker.stop()
    thread.join(60)
    assert not thread.is_alive(), "broker did not stop"
    assert all(p.exitcode is not None for p in broker._procs), "worker processes still running"


def test_two_workers_share_the_front_address(broker, make_client, astronaut_bgr, reference_engine):
    clients = [make_client(broker.address, timeout_ms=60_000) for _ in range(4)]
    seen = {client.hello()["worker"] for client in clients for _ in range(2)}
    assert seen == {0, 1}, f"requests reached workers {seen}, expected both"
    results: dict[int, list] = {}

    def work(i: int) -> None:
        results[i] = clients[i].reconstruct(astronaut_bgr, boxes=BOXES)["people"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    expected = [p.to_json() for p in reference_engine.reconstruct(astronaut_bgr, np.array(BOXES, np.float32))]
    assert sorted(results) == [0, 1, 2, 3], results.keys()
    for people in results.values():
        _assert_people_close(people, expected)


def test_video_session_sticks_to_its_worker(broker, make_client, astronaut_bgr):
    from backend.protocol import MessageType

    client = make_client(broker.address, timeout_ms=60_000)
    session = client.request(MessageType.VIDEO_START, {"fps": 25}).header["session"]
    frame = np.ascontiguousarray(astronaut_bgr[::4, ::4])
    for i in range(4):  # round-robin alone would send every other frame to the worker without the session
        fields, payloads = client.image_fields(frame)
        client.send(MessageType.VIDEO_FRAME, {"session": session, "index": i, **fields}, payloads)
    client.send(MessageType.VIDEO_END, {"session": session})
    replies = []
    while not replies or replies[-1]["type"] not in ("video_done", "error"):
        reply = client.receive(60_000)
        assert reply is not None, f"no video_done; got {[r['type'] for r in replies]}"
        replies.append(reply.header)
    assert replies[-1]["type"] == "video_done" and replies[-1]["frames"] == 4, replies[-1]
    assert [r["index"] for r in replies if r["type"] == "frame_result"] == [0, 1, 2, 3], replies


def test_broker_shutdown_answers_every_pending_request(broker, make_client, astronaut_bgr):
    """Runs last in this module: it stops the shared broker. Workers get SIGTERM, answer or fail what they hold,
    and the broker forwards those replies before it exits."""
    from backend.protocol import MessageType

    client = make_client(broker.address, timeout_ms=60_000)
    ids = [client.send(MessageType.RECONSTRUCT, {**client.image_fields(astronaut_bgr)[0], "boxes": BOXES},
                       client.image_fields(astronaut_bgr)[1]) for _ in range(8)]
    first = client.receive(60_000)  # the workers are busy with the rest
    assert first is not None and first.type == MessageType.RESULT, first
    broker.stop()
    answers = {first.id: first.header}
    while len(answers) < len(ids):
        reply = client.receive(30_000)
        assert reply is not None, f"unanswered after the broker stopped: {set(ids) - set(answers)}"
        answers[reply.id] = reply.header
    assert set(answers) == set(ids), answers.keys()
    kinds = {h["type"] if h["type"] == "result" else h.get("code") for h in answers.values()}
    assert kinds <= {"result", "shutting_down"}, kinds
