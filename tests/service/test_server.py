"""A real server on 127.0.0.1 driven by the real client: hello, ping, reconstruct routing, batching across clients,
cancellation and graceful shutdown (with the deterministic ProbeEngine; the real model is in test_model_service)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from backend import protocol
from backend.client import ServerError, ServerUnavailable
from backend.protocol import ErrorCode, MessageType

from .probe_engine import ProbeEngine


def _image(value: int, shape=(48, 64, 3)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


def test_hello_without_models_lists_engines_and_limits(start_server, make_client, tmp_path):
    running = start_server()  # default engine factory, empty models dir: nothing installed
    hello = make_client(running.address).hello()
    assert hello["type"] == "hello" and hello["protocol_version"] == protocol.PROTOCOL_VERSION, hello
    assert hello["engines"]["tokenhmr"]["available"] is False, hello["engines"]
    assert "tokenmocap models install" in hello["engines"]["tokenhmr"]["reason"], hello["engines"]["tokenhmr"]
    assert hello["limits"]["max_boxes"] == protocol.DEFAULT_LIMITS.max_boxes, hello["limits"]
    assert hello["device"].startswith(("cpu", "cuda")), hello["device"]
    assert hello["loaded_engines"] == [], hello["loaded_engines"]
    expected = "lite" if hello["engines"]["lite"]["available"] else None
    assert hello["engine"] == expected, (hello["engine"], hello["engines"]["lite"])


def test_reconstruct_without_tokenhmr_is_no_model_error(start_server, make_client):
    running = start_server()
    client = make_client(running.address)
    with pytest.raises(ServerError) as info:
        client.reconstruct(_image(10), engine="tokenhmr")
    assert info.value.code == ErrorCode.NO_MODEL, info.value
    assert "tokenmocap models install" in info.value.message, info.value.message


def test_ping_pong(probe_server, make_client):
    rtt_ms = make_client(probe_server.address).ping()
    assert 0 < rtt_ms < 2_000, rtt_ms


def test_reconstruct_with_boxes_returns_each_box(probe_server, make_client):
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :40] = 50
    image[:, 40:] = 200
    result = make_client(probe_server.address).reconstruct(image, boxes=[[0, 0, 40, 60], [40, 0, 80, 60]])
    assert result["type"] == MessageType.RESULT and result["image_size"] == [80, 60], result
    scores = [person["score"] for person in result["people"]]
    np.testing.assert_allclose(scores, [50 / 255, 200 / 255], rtol=1e-5, err_msg=f"scores {scores}")
    assert result["people"][1]["bbox"] == [40.0, 0.0, 80.0, 60.0], result["people"][1]
    assert set(result["timing_ms"]) >= {"queue", "decode", "detect_crop", "infer", "total"}, result["timing_ms"]


def test_reconstruct_jpeg_and_png_payloads(probe_server, make_client):
    import cv2

    client = make_client(probe_server.address)
    for ext in (".jpg", ".png"):
        ok, data = cv2.imencode(ext, _image(120, (32, 48, 3)))
        result = client.reconstruct(data.tobytes())
        assert result["image_size"] == [48, 32], (ext, result)
        assert abs(result["people"][0]["score"] - 120 / 255) < 2 / 255, (ext, result["people"])


def test_concurrent_clients_get_their_own_results_and_share_batches(start_server, make_client):
    engine = ProbeEngine(infer_delay_s=0.02)
    running = start_server(engine_factory=lambda name: engine, batch_wait_ms=20.0)
    n_clients, n_requests = 6, 4
    clients = [make_client(running.address) for _ in range(n_clients)]
    errors: list[str] = []

    def work(i: int) -> None:
        for k in range(n_requests):
            value = 10 + 20 * i + k
            result = clients[i].reconstruct(_image(value))
            got = result["people"][0]["score"] * 255
            if abs(got - value) > 1e-3:
                errors.append(f"client {i} request {k}: expected {value}, got {got}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sum(engine.batch_sizes) == n_clients * n_requests, engine.batch_sizes
    assert max(engine.batch_sizes) > 1, f"requests from several clients never shared a batch: {engine.batch_sizes}"


def test_cancel_pending_request(start_server, make_client):
    engine = ProbeEngine(infer_delay_s=0.5)
    running = start_server(engine_factory=lambda name: engine)
    client = make_client(running.address)
    blocker = client.send(MessageType.RECONSTRUCT, *client.image_fields(_image(1)))  # occupies the forward
    assert engine.infer_started.wait(5), "the first request never reached the engine"
    target = client.send(MessageType.RECONSTRUCT, *client.image_fields(_image(2)))
    client.cancel(target)
    replies = {}
    deadline = time.monotonic() + 5
    while len(replies) < 3 and time.monotonic() < deadline:
        reply = client.receive(1000)
        if reply is not None:
            replies.setdefault(reply.id, []).append(reply.header)
    assert replies[target][0]["type"] == "error" and replies[target][0]["code"] == ErrorCode.CANCELLED, replies
    cancel_replies = [h for hs in replies.values() for h in hs if h["type"] == MessageType.CANCELLED]
    assert cancel_replies and cancel_replies[0]["found"] is True, replies
    assert replies[blocker][0]["type"] == MessageType.RESULT, replies
    assert len(replies[target]) == 1, f"the cancelled request must get exactly one reply: {replies[target]}"
    assert sum(engine.batch_sizes) == 1, f"the cancelled request still ran: {engine.batch_sizes}"


def test_cancel_event_from_another_thread(start_server, make_client):
    engine = ProbeEngine(infer_delay_s=1.0)
    running = start_server(engine_factory=lambda name: engine)
    client = make_client(running.address)
    from backend.client import RequestCancelled

    event = threading.Event()
    threading.Timer(0.2, event.set).start()
    start = time.monotonic()
    with pytest.raises(RequestCancelled):
        client.reconstruct(_image(3), cancel_event=event)
    assert time.monotonic() - start < 0.9, "cancellation waited for the forward pass"
    assert client.ping() > 0  # the client is still usable; the late error reply is dropped by id


def test_mismatched_reply_ids_are_dropped(probe_server, make_client):
    client = make_client(probe_server.address)
    stray = client.send(MessageType.PING)  # its pong arrives while we wait for the next request
    time.sleep(0.1)
    hello = client.hello()
    assert hello["type"] == "hello" and hello["id"] != stray, hello


def test_client_times_out_and_retries_when_no_server(make_client):
    client = make_client("tcp://127.0.0.1:9", timeout_ms=100, retries=2)
    start = time.monotonic()
    with pytest.raises(ServerUnavailable) as info:
        client.hello(timeout_ms=100)
    elapsed = time.monotonic() - start
    assert 0.15 < elapsed < 2.0, f"expected ~2 x 100 ms of waiting, got {elapsed:.3f} s"
    assert "tokenmocap serve" in str(info.value), info.value


def test_lazy_pirate_reconnects_to_a_restarted_server(start_server, make_client):
    engine = ProbeEngine()
    first = start_server(engine_factory=lambda name: engine)
    address = first.address
    client = make_client(address, timeout_ms=300, retries=10)
    assert client.ping() > 0
    first.stop()
    second = start_server(engine_factory=lambda name: engine, address=address)
    assert second.address == address
    assert client.hello(timeout_ms=300)["type"] == "hello"


def test_shutdown_answers_every_pending_request(start_server, make_client):
    engine = ProbeEngine(infer_delay_s=0.5, max_batch=1)
    running = start_server(engine_factory=lambda name: engine, shutdown_grace_ms=1500, max_batch=1)
    client = make_client(running.address)
    ids = [client.send(MessageType.RECONSTRUCT, *client.image_fields(_image(i))) for i in range(8)]
    assert engine.infer_started.wait(5)
    running.server.stop()
    answers = {}
    deadline = time.monotonic() + 10
    while len(answers) < len(ids) and time.monotonic() < deadline:
        reply = client.receive(500)
        if reply is not None:
            answers[reply.id] = reply.header
    running.thread.join(10)
    assert not running.thread.is_alive(), "server thread still running after shutdown"
    assert set(answers) == set(ids), f"unanswered: {set(ids) - set(answers)}"
    kinds = [answers[i]["type"] if answers[i]["type"] == "result" else answers[i]["code"] for i in ids]
    assert kinds[0] == "result", kinds
    assert "shutting_down" in kinds, f"8 x 0.5 s of work cannot finish in a 1.5 s grace period: {kinds}"
    assert set(kinds) <= {"result", "shutting_down"}, kinds


def test_preload_loads_the_default_engine_before_any_request(start_server, make_client):
    engine = ProbeEngine()
    built: list[str] = []
    running = start_server(engine_factory=lambda name: built.append(name) or engine, preload=True)
    client = make_client(running.address)
    deadline = time.monotonic() + 10
    while client.hello()["loaded_engines"] != ["probe"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert built == ["auto"], f"expected one preload of the default engine, got {built}"
    assert client.hello()["loaded_engines"] == ["probe"]


def test_failed_preload_is_a_warning_naming_the_fix(start_server, caplog):
    """`serve --engine tokenhmr` without its files keeps serving, but says loudly (not at INFO) why requests fail."""
    from backend.engine import EngineUnavailable

    def unavailable(name):
        raise EngineUnavailable(f"engine {name!r} is unavailable: run: tokenmocap models install PATH")

    with caplog.at_level("INFO", logger="backend.service.server"):
        start_server(engine_factory=unavailable, preload=True)
        deadline = time.monotonic() + 10
        while "no engine preloaded" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    records = [r for r in caplog.records if "no engine preloaded" in r.getMessage()]
    assert records and records[0].levelname == "WARNING", [(r.levelname, r.getMessage()) for r in caplog.records]
    assert "tokenmocap models install" in records[0].getMessage(), records[0].getMessage()


def test_hello_answers_while_an_engine_is_loading(start_server, make_client):
    release = threading.Event()

    def slow_factory(name: str) -> ProbeEngine:
        release.wait(10)  # a model load that takes a while
        return ProbeEngine()

    running = start_server(engine_factory=slow_factory)
    client = make_client(running.address)
    rid = client.send(MessageType.RECONSTRUCT, *client.image_fields(_image(7)))  # triggers the slow load
    time.sleep(0.2)
    try:
        start = time.monotonic()
        hello = client.hello(timeout_ms=2000)
        assert time.monotonic() - start < 1.5, "hello waited for the engine load"
        assert hello["loaded_engines"] == [], hello["loaded_engines"]
    finally:
        release.set()
    reply = client.receive(10_000)
    assert reply is not None and reply.id == rid and reply.type == MessageType.RESULT, reply


def test_back_pressure_bounds_the_requests_taken_in(start_server, make_client):
    """With tiny queues and a slow engine, the server stops reading: the requests it holds stay bounded while
    the rest wait in ZeroMQ's queues, and every request is still answered."""
    engine = ProbeEngine(infer_delay_s=0.05, max_batch=2)
    running = start_server(engine_factory=lambda name: engine, prepare_queue_size=2, infer_queue_size=2,
                           prepare_threads=1, max_batch=2)
    client = make_client(running.address, timeout_ms=30_000)
    ids = [client.send(MessageType.RECONSTRUCT, *client.image_fields(_image(i))) for i in range(40)]
    peak, answers = 0, {}
    deadline = time.monotonic() + 30
    while len(answers) < len(ids) and time.monotonic() < deadline:
        peak = max(peak, len(running.server._pending))
        reply = client.receive(20)
        if reply is not None:
            answers[reply.id] = reply.header
    assert set(answers) == set(ids), f"{len(ids) - len(answers)} requests unanswered"
    assert all(h["type"] == MessageType.RESULT for h in answers.values()), {h["type"] for h in answers.values()}
    # at most: 2 waiting to prepare + 1 preparing + 2 waiting for the forward + 2 in the forward + 1 read ahead
    assert peak <= 8, f"the server took in {peak} of 40 requests at once; back-pressure is not working"


def test_requests_from_two_clients_share_one_forward_pass(start_server, make_client):
    """While the forward is busy, two clients' requests are decoded and cropped (the stages run concurrently) and
    then go through the model together: one batch of 2 whose results each reach their own client."""
    gate = threading.Event()
    engine = ProbeEngine(infer_gate=gate)
    running = start_server(engine_factory=lambda name: engine, batch_wait_ms=50.0)
    blocker_client, alice, bob = (make_client(running.address) for _ in range(3))
    blocker = blocker_client.send(MessageType.RECONSTRUCT, *blocker_client.image_fields(_image(5)))
    assert engine.infer_started.wait(5), "the first request never reached the engine"
    sent = {alice.send(MessageType.RECONSTRUCT, *alice.image_fields(_image(60))): (alice, 60),
            bob.send(MessageType.RECONSTRUCT, *bob.image_fields(_image(180))): (bob, 180)}
    deadline = time.monotonic() + 5
    while running.server.pipeline._infer_q.qsize() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.prepared == 3, f"only {engine.prepared} image(s) prepared while the forward was busy"
    assert running.server.pipeline._infer_q.qsize() == 2, "both requests should wait for the forward"
    gate.set()
    reply = blocker_client.receive(5000)
    assert reply is not None and reply.id == blocker and reply.type == MessageType.RESULT, reply
    for rid, (client, value) in sent.items():
        reply = client.receive(5000)
        assert reply is not None and reply.id == rid and reply.type == MessageType.RESULT, reply
        person = reply.header["people"][0]
        assert abs(person["score"] * 255 - value) < 1e-3, (value, person["score"])
        assert person["cam_crop"][2] == 2, f"request {rid} ran in a batch of {person['cam_crop'][2]}, expected 2"
    assert engine.batch_sizes == [1, 2], engine.batch_sizes


def test_lazy_pirate_resends_the_same_id_on_a_fresh_socket(zmq_context, make_client):
    """A server that swallows the first request: the client times out, closes its socket, connects a new one
    (a new identity) and resends the same request id, which is answered."""
    import zmq

    router = zmq_context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind("tcp://127.0.0.1:*")
    address = router.getsockopt_string(zmq.LAST_ENDPOINT)
    seen: list[tuple[bytes, dict]] = []

    def swallow_then_answer() -> None:
        for attempt in range(2):
            if not router.poll(5000):
                return
            identity, frame = router.recv_multipart()
            header = protocol.decode([frame]).header
            seen.append((identity, header))
            if attempt == 1:
                router.send_multipart([identity, *protocol.encode(protocol.make_header(
                    MessageType.PONG, header["id"], time_ms=0.0))])

    thread = threading.Thread(target=swallow_then_answer)
    thread.start()
    try:
        client = make_client(address, timeout_ms=300, retries=2)
        assert client.ping(timeout_ms=300, retries=2) > 0
    finally:
        thread.join(10)
        router.close(linger=0)
    assert len(seen) == 2, seen
    (first_identity, first), (second_identity, second) = seen
    assert first["id"] == second["id"] and first["type"] == second["type"] == "ping", (first, second)
    assert first_identity != second_identity, "the retry did not use a fresh socket"


def _established_tcp(local_port: int) -> int:
    """Connections in state ESTABLISHED whose local port is ``local_port`` (Linux /proc/net/tcp)."""
    count = 0
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        count += int(int(local.split(":")[1], 16) == local_port and state == "01")
    return count


@pytest.mark.skipif(not __import__("os").path.exists("/proc/net/tcp"), reason="reads TCP states from Linux's "
                    "/proc/net/tcp")
def test_heartbeats_close_the_connection_of_a_frozen_client(probe_server):
    """A client process that stops answering (SIGSTOP: its kernel still ACKs, so TCP alone never notices) is
    dropped by the server's ZMTP heartbeats within HEARTBEAT_TIMEOUT_MS."""
    import signal
    import subprocess
    import sys

    port = int(probe_server.address.rsplit(":", 1)[1])
    code = ("import sys, time\nfrom backend.client import Client\nc = Client(sys.argv[1], timeout_ms=5000, retries=1)\n"
            "c.hello()\nprint('ready', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, probe_server.address], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", "the client process did not get its hello answered"
        assert _established_tcp(port) == 1, f"expected the client's connection, found {_established_tcp(port)}"
        proc.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        limit_s = protocol.HEARTBEAT_TIMEOUT_MS / 1000 + 4
        while _established_tcp(port) and time.monotonic() - frozen_at < limit_s:
            time.sleep(0.1)
        dropped_after = time.monotonic() - frozen_at
        assert _established_tcp(port) == 0, f"the server still holds the frozen client's connection after {limit_s} s"
        assert dropped_after >= protocol.HEARTBEAT_INTERVAL_MS / 1000, \
            f"dropped after {dropped_after:.1f} s, sooner than one heartbeat interval: not the heartbeat's doing"
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(10)
