"""Full-size TokenHMR and HMR 2.0 built on the meta device have exactly the official keys, shapes and dtypes."""

from __future__ import annotations

import json

import pytest
import torch

from backend.models import HMR2, PoseVQVAE, TokenHMR, TokenizerArch

IGNORED = ("smpl.", "discriminator.")


def _manifest(shared_fixtures, name: str) -> dict:
    path = shared_fixtures / name
    if not path.is_file():
        pytest.skip(f"{path} is missing from the shared fixtures")
    return json.loads(path.read_text())


def _expected(entries: list[dict]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {
        e["key"]: (tuple(e["shape"]), e["dtype"])
        for e in entries
        if not e["key"].startswith(IGNORED) and e["key"] != "initialized"
    }


def _actual(module: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], str]]:
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()}


def _assert_same(actual: dict, expected: dict, what: str) -> None:
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    wrong = sorted(k for k in set(actual) & set(expected) if actual[k] != expected[k])
    assert not (missing or unexpected or wrong), (
        f"{what}: missing {missing[:10]} ({len(missing)}), unexpected {unexpected[:10]} ({len(unexpected)}), "
        f"wrong shape/dtype {[(k, actual[k], expected[k]) for k in wrong[:10]]} ({len(wrong)})"
    )


def test_full_size_tokenhmr_matches_the_official_manifest(shared_fixtures):
    manifest = _manifest(shared_fixtures, "tokenhmr_full_state_dict_manifest.json")
    with torch.device("meta"):
        model = TokenHMR()
    expected = _expected(manifest["state_dict"])
    assert len(expected) == 389 + 174, f"manifest should list 563 network keys, lists {len(expected)}"
    _assert_same(_actual(model), expected, "TokenHMR state_dict")
    params = sum(p.numel() for p in model.backbone.parameters())
    assert params == manifest["num_parameters_backbone"], f"backbone params {params}"


def test_full_size_tokenizer_matches_the_official_manifest(shared_fixtures):
    manifest = _manifest(shared_fixtures, "tokenhmr_full_state_dict_manifest.json")["tokenizer_pth"]
    arch = TokenizerArch.from_hparams(manifest["hparams_ARCH_release"])
    assert arch.num_tokens == manifest["num_tokens"] == 160, f"derived token count {arch.num_tokens}"
    with torch.device("meta"):
        vqvae = PoseVQVAE(arch)
    _assert_same(_actual(vqvae), _expected(manifest["net"]), "tokenizer net")
    with torch.device("meta"):
        model = TokenHMR()
    decoder_keys = {k for k in _expected(manifest["net"]) if not k.startswith("encoder.")}
    assert set(model.token_decoder.state_dict()) == decoder_keys, "token decoder keys != tokenizer decoder+quantizer"


def test_full_size_hmr2_matches_the_official_manifest(shared_fixtures):
    manifest = _manifest(shared_fixtures, "hmr2_full_state_dict_manifest.json")
    with torch.device("meta"):
        model = HMR2()
    expected = _expected(manifest["state_dict"])
    assert len(expected) == 389 + 114, f"manifest should list 503 network keys, lists {len(expected)}"
    _assert_same(_actual(model), expected, "HMR2 state_dict")
