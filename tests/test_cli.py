from __future__ import annotations

from backend import cli


def test_doctor_reports_missing_files_with_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKENMOCAP_HOME", str(tmp_path))
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"models directory: {tmp_path / 'models'}" in out, out
    assert "[--] tokenhmr/tokenizer.safetensors" in out, out
    assert "tokenhmr: missing" in out and "tokenmocap models install" in out, out


def test_doctor_sees_installed_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKENMOCAP_HOME", str(tmp_path))
    (tmp_path / "models" / "tokenhmr").mkdir(parents=True)
    (tmp_path / "models" / "tokenhmr" / "tokenizer.safetensors").write_bytes(b"x")
    cli.main(["doctor"])
    out = capsys.readouterr().out
    assert "[ok] tokenhmr/tokenizer.safetensors" in out, out
    assert "[--] tokenhmr/model.safetensors" in out, out


def test_keys_generate_writes_a_usable_private_pair(tmp_path, capsys):
    import stat

    import zmq.auth

    assert cli.main(["keys", "generate", str(tmp_path / "keys"), "studio"]) == 0
    out = capsys.readouterr().out
    public, secret = tmp_path / "keys" / "studio.key", tmp_path / "keys" / "studio.key_secret"
    assert str(public) in out and str(secret) in out, out
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600, oct(secret.stat().st_mode)
    pub, sec = zmq.auth.load_certificate(str(secret))
    assert len(pub) == len(sec) == 40 and zmq.auth.load_certificate(str(public)) == (pub, None)


def test_models_list_shows_each_file_and_engine(tmp_path, capsys):
    (tmp_path / "smpl").mkdir()
    (tmp_path / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(b"x")
    assert cli.main(["models", "list", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[ok] smpl/SMPL_NEUTRAL.pkl" in out and "[--] tokenhmr/model.safetensors" in out, out
    assert "tokenhmr: missing" in out and "hmr2: missing" in out, out


# --------------------------------------------------------------------------------------------------------------------
# Bad inputs: one message naming what was expected, what was found and the fix; a non-zero exit code; no traceback.
# Every case below fails before an engine loads, so each takes milliseconds.

import errno  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def _clean_error(caplog, *needles: str) -> str:
    text = caplog.text
    assert "Traceback" not in text, text
    for needle in needles:
        assert needle in text, f"expected {needle!r} in the message, got: {text}"
    return text


@pytest.fixture
def photo(tmp_path):
    import cv2
    import skimage.data

    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), skimage.data.astronaut()[:, :, ::-1])
    return path


def _write_clip(path, n: int = 6):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG/AVI (no video writer backend)")
    for i in range(n):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


def test_os_error_from_a_command_is_one_line_with_the_file(tmp_path, monkeypatch, caplog):
    import backend.commands.doctor as doctor

    def fail(args):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "locked.json"))

    monkeypatch.setattr(doctor, "run", fail)
    assert cli.main(["doctor"]) == 1
    _clean_error(caplog, "locked.json: Permission denied", "fix the permissions or choose another path")


def test_ctrl_c_outside_mocap_exits_130_without_traceback(monkeypatch, caplog):
    import backend.commands.doctor as doctor

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(doctor, "run", interrupted)
    assert cli.main(["doctor"]) == 130
    _clean_error(caplog, "cancelled (Ctrl-C)")


def test_doctor_names_the_lite_engine_and_honours_models_dir(tmp_path, capsys):
    assert cli.main(["doctor", "--models-dir", str(tmp_path / "elsewhere")]) == 0
    out = capsys.readouterr().out
    assert f"models directory: {tmp_path / 'elsewhere'} (does not exist yet" in out, out
    lite = [line for line in out.splitlines() if line.startswith("lite: ")]
    assert len(lite) == 1 and lite[0].startswith(("lite: ready, no licensed files", "lite: unavailable (")), lite


@pytest.mark.parametrize("case", ["missing", "folder", "empty"])
def test_demo_image_problems_are_named_before_the_engine_loads(tmp_path, caplog, case):
    image = {"missing": tmp_path / "nope.jpg", "folder": tmp_path, "empty": tmp_path / "empty.jpg"}[case]
    if case == "empty":
        image.write_bytes(b"")
    found = {"missing": "does not exist", "folder": "is a folder", "empty": "is empty (0 bytes)"}[case]
    assert cli.main(["demo", "--image", str(image), "--out", str(tmp_path / "out"), "--no-fbx"]) == 2
    _clean_error(caplog, str(image), found, "expected --image, a JPEG or PNG photo")


def test_demo_out_that_is_a_file_is_refused(tmp_path, caplog):
    blocker = tmp_path / "out"
    blocker.write_text("x")
    assert cli.main(["demo", "--out", str(blocker), "--no-fbx"]) == 2
    _clean_error(caplog, "--out", "is a file, not a folder", "Choose another --out")


def test_reconstruct_text_file_named_jpg(tmp_path, caplog):
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello\n")
    assert cli.main(["reconstruct", str(fake)]) == 2
    _clean_error(caplog, "fake.jpg: expected a JPEG or PNG photo", "b'hello\\n'", "convert it to JPEG/PNG")


def test_reconstruct_folder_instead_of_image(tmp_path, caplog):
    assert cli.main(["reconstruct", str(tmp_path)]) == 2
    _clean_error(caplog, "is a folder; expected IMAGE")


@pytest.mark.parametrize("box, found", [("1,2,3", "expected four numbers"), ("a,b,c,d", "expected four numbers"),
                                        ("10,10,5,5", "X2 > X1 and Y2 > Y1")])
def test_reconstruct_bad_box_is_a_usage_error(photo, capsys, box, found):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["reconstruct", str(photo), "--box", box])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --box" in err and found in err and "Traceback" not in err, err


@pytest.mark.parametrize("address, found", [("localhost:5555", "expected tcp://HOST:PORT"),
                                            ("tcp://127.0.0.1:99999", "port 99999 is out of range")])
def test_reconstruct_bad_server_address(photo, caplog, address, found):
    assert cli.main(["reconstruct", str(photo), "--server", address]) == 2
    _clean_error(caplog, found)


def test_reconstruct_outputs_checked_before_any_work(photo, tmp_path, caplog):
    assert cli.main(["reconstruct", str(photo), "--out", str(tmp_path)]) == 2
    _clean_error(caplog, "--out", "is a folder; expected a file name")
    caplog.clear()
    assert cli.main(["reconstruct", str(photo), "--preview", str(tmp_path / "p.txt")]) == 2
    _clean_error(caplog, "--preview", "expected a .png", "p.png")


def test_reconstruct_missing_detector_weights_names_the_folder(photo, tmp_path, monkeypatch, caplog):
    pytest.importorskip("backend.lite")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    rc = cli.main(["reconstruct", str(photo), "--engine", "lite", "--detector", "torchvision",
                   "--models-dir", str(tmp_path / "models")])
    assert rc == 2, rc
    _clean_error(caplog, "no torchvision detector weights", str(tmp_path / "models" / "detectors"),
                 "--detector hog")


def test_reconstruct_warns_when_nobody_is_found(photo, tmp_path, monkeypatch, caplog):
    import backend.engine

    class Nobody:
        name = "lite"

        def reconstruct(self, image, boxes=None):
            return []

    monkeypatch.setattr(backend.engine, "make_engine", lambda *a, **k: Nobody())
    out = tmp_path / "r.json"
    assert cli.main(["reconstruct", str(photo), "--out", str(out)]) == 0
    assert '"people": []' in out.read_text()
    _clean_error(caplog, "no person found in", "--box X1,Y1,X2,Y2", "--detector hog")


@pytest.mark.parametrize("address, found", [("tcp://127.0.0.1:99999", "port 99999 is out of range"),
                                            ("bogus", "expected tcp://HOST:PORT")])
def test_serve_bad_address(caplog, address, found):
    assert cli.main(["serve", "--address", address, "--no-preload"]) == 2
    _clean_error(caplog, found)


def test_serve_zero_workers_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--workers", "0"])
    assert exit_info.value.code == 2
    assert "--workers: expected a whole number >= 1; got 0" in capsys.readouterr().err


def test_serve_on_a_port_in_use_says_so(tmp_path, caplog):
    import zmq

    context = zmq.Context()
    holder = context.socket(zmq.ROUTER)
    holder.setsockopt(zmq.LINGER, 0)
    try:
        port = holder.bind_to_random_port("tcp://127.0.0.1")
        rc = cli.main(["serve", "--address", f"tcp://127.0.0.1:{port}", "--no-preload",
                       "--models-dir", str(tmp_path)])
    finally:
        holder.close()
        context.term()
    assert rc == 1, rc
    _clean_error(caplog, f"cannot bind tcp://127.0.0.1:{port}", "Address already in use", "another --address")


def test_models_list_and_install_with_a_file_as_models_dir(tmp_path, caplog, capsys):
    blocker = tmp_path / "models"
    blocker.write_text("x")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    assert cli.main(["models", "list", "--models-dir", str(blocker)]) == 2
    _clean_error(caplog, "is a file; expected the folder")
    caplog.clear()
    assert cli.main(["models", "install", str(junk), "--models-dir", str(blocker)]) == 2
    _clean_error(caplog, "--models-dir", "is a file, not a folder")
    assert cli.main(["models", "list", "--models-dir", str(tmp_path / "new")]) == 0
    assert "(does not exist yet: nothing installed)" in capsys.readouterr().out


def test_keys_generate_never_overwrites_a_pair_silently(tmp_path, caplog):
    folder = tmp_path / "keys"
    assert cli.main(["keys", "generate", str(folder), "server"]) == 0
    secret = (folder / "server.key_secret").read_bytes()
    assert cli.main(["keys", "generate", str(folder), "server"]) == 2
    _clean_error(caplog, "server.key already exists", "--force")
    assert (folder / "server.key_secret").read_bytes() == secret, "the existing secret key was replaced"
    assert cli.main(["keys", "generate", str(folder), "server", "--force"]) == 0
    assert (folder / "server.key_secret").read_bytes() != secret, "--force did not replace the pair"


@pytest.mark.parametrize("name", ["../escape", "", ".hidden", "a/b"])
def test_keys_name_cannot_leave_the_folder(tmp_path, caplog, name):
    assert cli.main(["keys", "generate", str(tmp_path / "keys"), name]) == 2
    _clean_error(caplog, f"key name {name!r}")
    assert not list(tmp_path.rglob("*.key*")), list(tmp_path.rglob("*"))


@pytest.mark.parametrize("case", ["folder", "empty"])
def test_mocap_video_problems(tmp_path, caplog, case):
    video = tmp_path if case == "folder" else tmp_path / "zero.avi"
    if case == "empty":
        video.write_bytes(b"")
    assert cli.main(["mocap", str(video), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    _clean_error(caplog, {"folder": "is a folder; expected VIDEO", "empty": "is empty (0 bytes)"}[case])


@pytest.mark.parametrize("extra, found", [(["--start", "50"], "--start 50 is past the end"),
                                          (["--start", "4", "--end", "2"], "--end 2 must be greater than --start 4")])
def test_mocap_frame_range_checked_against_the_video(tmp_path, caplog, extra, found):
    clip = _write_clip(tmp_path / "clip.avi")
    out = tmp_path / "out"
    assert cli.main(["mocap", str(clip), "--out", str(out), "--no-progress", *extra]) == 2
    _clean_error(caplog, found)
    assert not out.exists(), "a refused run must not leave an output folder behind"


def test_mocap_out_that_is_a_file(tmp_path, caplog):
    clip = _write_clip(tmp_path / "clip.avi")
    blocker = tmp_path / "out"
    blocker.write_text("x")
    assert cli.main(["mocap", str(clip), "--out", str(blocker), "--no-progress"]) == 2
    _clean_error(caplog, "--out", "is a file, not a folder")


def test_mocap_negative_fsync_interval_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["mocap", "clip.avi", "--out", str(tmp_path / "o"), "--fsync-interval", "-1"])
    assert exit_info.value.code == 2
    assert "--fsync-interval: expected a finite number >= 0" in capsys.readouterr().err


def test_mocap_resume_keeps_the_jobs_range_and_engine(tmp_path):
    import json

    from backend.commands import mocap

    out = tmp_path / "job"
    out.mkdir()
    (out / "job.json").write_text(json.dumps({"version": 1, "options": {"start_frame": 2, "end_frame": 5},
                                              "engine": "lite"}))
    args = cli.build_parser().parse_args(["mocap", "clip.avi", "--out", str(out), "--resume", "--detector", "hog"])
    mocap._adopt_job_settings(args)
    assert (args.start, args.end, args.engine) == (2, 5, "lite"), (args.start, args.end, args.engine)
    explicit = cli.build_parser().parse_args(["mocap", "clip.avi", "--out", str(out), "--resume", "--end", "4",
                                              "--engine", "tokenhmr"])
    mocap._adopt_job_settings(explicit)
    assert (explicit.start, explicit.end, explicit.engine) == (2, 4, "tokenhmr"), "explicit options must win"


def test_mocap_ctrl_c_prints_a_resume_command_that_repeats_the_options(tmp_path, monkeypatch, caplog):
    import backend.engine
    import backend.video

    clip = _write_clip(tmp_path / "clip.avi")

    class Engine:
        name = "lite"

        def close(self):
            pass

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(backend.engine, "make_engine", lambda *a, **k: Engine())
    monkeypatch.setattr(backend.video, "run_video_job", interrupted)
    out = tmp_path / "out dir"
    rc = cli.main(["mocap", str(clip), "--out", str(out), "--engine", "lite", "--detector", "hog", "--end", "4",
                   "--no-progress"])
    assert rc == 130, rc
    _clean_error(caplog, f"tokenmocap mocap {clip} --out '{out}' --resume --engine lite --detector hog")
