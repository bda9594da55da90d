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
