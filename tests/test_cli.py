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
