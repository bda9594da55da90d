"""Thousands of malformed, truncated, oversized, wrong-version and random messages: every one is answered with
`error` (or, for frames above the socket's hard size limit, dropped by libzmq), the server stays up, its state
and memory stay bounded, and a valid request afterwards is served correctly."""

from __future__ import annotations

import json
import os
import random
import time

import cv2
import numpy as np
import zmq

from backend import protocol

from .test_model_service import BOXES, _assert_people_close

N_MESSAGES = 3000
WINDOW = 64  # messages in flight at once
LIMITS = protocol.Limits(max_header_bytes=4096, max_payload_bytes=256 * 1024, max_frames=4, max_boxes=8)


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _valid_header(rng: random.Random, rid: str) -> dict:
    kind = rng.choice(["ping", "hello", "reconstruct", "body_model", "cancel"])
    header = {"v": 1, "type": kind, "id": rid}
    if kind == "reconstruct":
        header["image"] = {"encoding": rng.choice(["jpeg", "png", "raw"]), "frame": 1, "shape": [8, 8, 3]}
        header["boxes"] = [[0, 0, 4, 4]]
    if kind == "cancel":
        header["target"] = "nothing-pending"
    return header


# values that are invalid for each field (unknown extra fields are ignored by design, so only these are mutated)
_BAD_VALUES = {
    "type": [None, True, -1, "", "x" * 300, [], {}, "explode"],
    "image": [None, True, -1, "", [], {}, {"encoding": "raw"}, {"encoding": "gif", "frame": 1},
              {"encoding": "raw", "frame": 1, "shape": [8, 8, 7]}, {"encoding": "jpeg", "frame": 3}],
    "boxes": [True, -1, "x", {}, [[1, 2]], [1.5] * 5, [[0, 0, -1, 5]], [[0, 0, 1, None]], [[0, 0, 1, 1]] * 9],
    "engine": [True, -1, "", "x" * 300, [], {}],
    "betas": [True, "x", {}, [None], [[1, 2]], [0.0] * 301],
    "target": [None, True, -1, "", "x" * 300, []],
}
_FIELDS = {"ping": ["type"], "hello": ["type"], "reconstruct": ["image", "boxes", "engine"], "body_model": ["betas"],
           "cancel": ["target"]}


def make_bad_message(rng: random.Random, i: int, jpeg: bytes) -> tuple[list, str | None]:
    """(frames, the id the error reply must echo or None) for one of several kinds of broken message."""
    rid = f"bad-{i}"
    kind = i % 12
    if kind == 0:  # random bytes, 1..4 frames
        return [rng.randbytes(rng.randint(0, 200)) for _ in range(rng.randint(1, 4))], None
    if kind == 1:  # truncated JSON of a valid header
        text = json.dumps(_valid_header(rng, rid)).encode()
        return [text[:rng.randint(0, len(text) - 1)]], None
    if kind == 2:  # wrong version
        header = _valid_header(rng, rid)
        header["v"] = rng.choice([0, 2, "1", 1.0, None, [1]])
        return [json.dumps(header).encode()], rid
    if kind == 3:  # a valid header with one field replaced by garbage
        header = _valid_header(rng, rid)
        key = rng.choice(_FIELDS[header["type"]])
        header[key] = rng.choice(_BAD_VALUES[key])
        payloads = [rng.randbytes(16)] if header["type"] == "reconstruct" and rng.random() < 0.5 else []
        return [json.dumps(header).encode(), *payloads], rid
    if kind == 4:  # oversized header
        return [json.dumps({"v": 1, "type": "ping", "id": rid, "pad": "x" * (LIMITS.max_header_bytes + 10)})
                .encode()], None
    if kind == 5:  # oversized payload (under the socket's hard limit, over the protocol limit)
        header = {"v": 1, "type": "reconstruct", "id": rid, "image": {"encoding": "jpeg", "frame": 1}}
        return [json.dumps(header).encode(), bytes(LIMITS.max_payload_bytes + 1)], rid
    if kind == 6:  # JPEG declared, garbage or truncated JPEG sent
        data = jpeg[:rng.randint(2, len(jpeg) - 1)] if rng.random() < 0.5 else b"\xff\xd8" + rng.randbytes(100)
        header = {"v": 1, "type": "reconstruct", "id": rid, "image": {"encoding": "jpeg", "frame": 1}}
        return [json.dumps(header).encode(), data], rid
    if kind == 7:  # raw image whose payload does not match its shape
        header = {"v": 1, "type": "reconstruct", "id": rid,
                  "image": {"encoding": "raw", "frame": 1, "shape": [16, 16, 3], "dtype": "uint8"}}
        return [json.dumps(header).encode(), bytes(rng.randint(0, 700))], rid
    if kind == 8:  # too many frames
        return [json.dumps({"v": 1, "type": "ping", "id": rid}).encode(), *[b"x"] * (LIMITS.max_frames + 1)], rid
    if kind == 9:  # deeply nested JSON
        depth = rng.randint(1000, 50000)
        return [b"[" * depth + b"]" * depth], None
    if kind == 10:  # unknown type
        return [json.dumps({"v": 1, "type": rng.choice(["", "Hello", "rm -rf", "result", "error"]), "id": rid})
                .encode()], rid
    # 11: a PNG declaring a huge size (decompression bomb): refused from the header
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (60000).to_bytes(4, "big") * 2 + rng.randbytes(40)
    header = {"v": 1, "type": "reconstruct", "id": rid, "image": {"encoding": "png", "frame": 1}}
    return [json.dumps(header).encode(), png], rid


def _expected_reply_ok(expected_id: str | None, header: dict) -> str | None:
    """None if the reply is acceptable, else why not."""
    if header.get("type") != "error":
        return f"expected an error reply, got {header}"
    if header.get("code") not in protocol.ERROR_CODES:
        return f"unknown error code {header.get('code')}"
    if expected_id is not None and header.get("id") != expected_id:
        return f"error reply id {header.get('id')!r}, expected {expected_id!r}"
    return None


def test_thousands_of_bad_messages_then_a_valid_request(start_server, installed_models, zmq_context,
                                                        astronaut_bgr, make_client, reference_engine):
    running = start_server(models_dir=installed_models, engine="tokenhmr", detector="full_frame", device="cpu",
                           limits=LIMITS)
    rng = random.Random(1234)
    ok, jpeg = cv2.imencode(".jpg", astronaut_bgr)
    jpeg = jpeg.tobytes()
    sock = zmq_context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(running.address)
    try:
        # warm-up, then measure memory over the bulk of the run
        problems: list[str] = []
        replies = 0
        rss_after_warmup = None
        sent = 0
        in_flight: dict = {}
        deadline = time.monotonic() + 120
        while (sent < N_MESSAGES or in_flight) and time.monotonic() < deadline:
            while sent < N_MESSAGES and len(in_flight) < WINDOW:
                frames, expected_id = make_bad_message(rng, sent, jpeg)
                sock.send_multipart(frames)
                in_flight[sent] = expected_id
                sent += 1
            assert sock.poll(10_000), f"no reply within 10 s after {replies} replies ({len(in_flight)} in flight)"
            reply = protocol.decode(sock.recv_multipart())
            replies += 1
            rid = reply.header.get("id")
            key = int(rid.split("-")[1]) if isinstance(rid, str) and rid.startswith("bad-") else None
            if key is None:  # unaddressable id: take the oldest id-less message in flight
                key = next((k for k, v in in_flight.items() if v is None), None)
                if key is None:
                    problems.append(f"reply without an id while none was expected: {reply.header}")
                    continue
            expected_id = in_flight.pop(key, "missing")
            why = _expected_reply_ok(expected_id, reply.header)
            if why:
                problems.append(why)
            if replies == 500:
                rss_after_warmup = _rss_bytes()
        assert not problems, problems[:10]
        assert replies == N_MESSAGES, f"{N_MESSAGES} sent, {replies} answered"
        growth = _rss_bytes() - rss_after_warmup
        assert growth < 40 * 1024 * 1024, f"memory grew {growth / 2**20:.1f} MiB over {N_MESSAGES - 500} messages"
        assert running.server._pending == {} and running.server._by_request == {}, "pending table not empty"

        # frames above the socket's hard limit are dropped by libzmq (the peer is disconnected), not buffered
        huge = zmq_context.socket(zmq.DEALER)
        huge.setsockopt(zmq.LINGER, 0)
        huge.connect(running.address)
        huge.send_multipart([b'{"v":1,"type":"ping","id":"huge"}',
                             bytes(LIMITS.max_payload_bytes + LIMITS.max_header_bytes + 1024)])
        assert not huge.poll(500), "an over-limit frame was answered instead of dropped"
        huge.close(linger=0)
    finally:
        sock.close(linger=0)

    client = make_client(running.address, timeout_ms=60_000)
    assert client.ping() > 0
    result = client.reconstruct(jpeg, boxes=BOXES)
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    expected = [p.to_json() for p in reference_engine.reconstruct(image, np.array(BOXES, np.float32))]
    _assert_people_close(result["people"], expected)
    stats = running.server.stats
    # the over-limit frame never reached the loop; everything else was read and answered
    assert stats["received"] == N_MESSAGES + 2 and stats["replied"] == N_MESSAGES + 2, stats


def test_a_client_that_never_reads_does_not_stall_the_others(probe_server, zmq_context, make_client):
    """6000 `hello`s from a client that never reads its replies fill its queue (the server's high-water
    mark and the TCP buffers); the server drops that client's replies instead of blocking on it."""
    rogue = zmq_context.socket(zmq.DEALER)
    rogue.setsockopt(zmq.LINGER, 0)
    rogue.setsockopt(zmq.RCVHWM, 1)
    rogue.setsockopt(zmq.RCVBUF, 4096)
    rogue.connect(probe_server.address)
    try:
        sent, deadline = 0, time.monotonic() + 30
        hello = protocol.encode(protocol.make_header("hello", "rogue"))
        while sent < 6_000 and time.monotonic() < deadline:
            try:
                rogue.send_multipart(hello, zmq.NOBLOCK)
                sent += 1
            except zmq.Again:  # the server is not reading: give it a moment
                time.sleep(0.01)
        stats = probe_server.server.stats
        while stats["received"] < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sent == stats["received"] == 6_000, f"the server stalled: {sent} sent, {stats['received']} read"
        client = make_client(probe_server.address, timeout_ms=3_000)
        assert client.ping() > 0, "the server stopped answering others"
        assert stats["dropped"] > 0, "the rogue's queue never filled; the test proves nothing"
    finally:
        rogue.close(linger=0)
