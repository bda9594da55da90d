"""Loading SMPL files: chumpy pickles without chumpy, old scipy module names, npz, and clear errors."""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from backend.body import (
    SMPL_PARENTS,
    SMPLFileError,
    SyntheticSMPLFiles,
    load_joint_regressor_extra,
    load_smpl_data,
    load_smpl_mean_params,
)


def _raw_model(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _globals_of(blob: bytes) -> set[str]:
    return {arg for op, arg, _ in pickletools.genops(blob) if op.name in ("GLOBAL", "STACK_GLOBAL")}


class _Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 ``str`` (SHORT_BINSTRING / BINSTRING), as the real 2015 SMPL file has them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes | str) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def _py2_dumps(obj: object) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # Python 2 era module names: numpy.core (numpy < 2) and scipy.sparse.csc (scipy < 1.8).
    return (buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
            .replace(b"scipy.sparse._csc\n", b"scipy.sparse.csc\n"))


@pytest.fixture()
def chumpy_module(monkeypatch: pytest.MonkeyPatch) -> type:
    """A stand-in `chumpy.ch.Ch` registered in sys.modules, so pickle writes GLOBAL 'chumpy.ch Ch' + BUILD."""

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            # chumpy leaf objects pickle their __dict__; the value lives under 'x'.
            self.x = x
            self._dirty_vars = set()
            self._itr = None

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module = types.ModuleType("chumpy.ch")
    module.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch


def test_synthetic_file_loads_with_official_structure(synthetic_smpl: SyntheticSMPLFiles) -> None:
    data = load_smpl_data(synthetic_smpl.smpl_path)
    raw = _raw_model(synthetic_smpl.smpl_path)
    assert raw["f"].dtype == np.uint32, f"faces should be stored as uint32, got {raw['f'].dtype}"
    assert scipy.sparse.issparse(raw["J_regressor"]), f"J_regressor should be sparse, got {type(raw['J_regressor'])}"
    assert int(raw["kintree_table"][0, 0]) == 4294967295, f"root parent {raw['kintree_table'][0, 0]}"
    assert data.v_template.shape == (6890, 3), f"v_template shape {data.v_template.shape}"
    assert data.posedirs.shape == (6890, 3, 207) and data.shapedirs.shape == (6890, 3, 10)
    assert tuple(data.parents.tolist()) == SMPL_PARENTS, f"parents {data.parents.tolist()}"
    np.testing.assert_allclose(data.J_regressor, raw["J_regressor"].toarray(), rtol=0, atol=0)
    np.testing.assert_allclose(data.J_regressor.sum(1), 1.0, atol=1e-12, err_msg="J_regressor rows sum to 1")
    np.testing.assert_allclose(data.weights.sum(1), 1.0, atol=1e-12, err_msg="skin weights rows sum to 1")
    assert data.faces.dtype == np.int64 and data.faces.max() < 6890


def test_synthetic_files_are_seeded(tmp_path: Path, synthetic_smpl: SyntheticSMPLFiles) -> None:
    again = load_smpl_data(synthetic_smpl.smpl_path)
    other = load_smpl_data(__import__("backend.body", fromlist=["x"]).write_synthetic_smpl_files(tmp_path, 1).smpl_path)
    diff = np.abs(again.shapedirs - other.shapedirs).max()
    assert diff > 1e-4, f"seed 1 should give other random shapedirs than seed 0, max diff {diff}"


def test_chumpy_pickle_loads_without_chumpy(tmp_path: Path, synthetic_smpl: SyntheticSMPLFiles, chumpy_module: type,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _raw_model(synthetic_smpl.smpl_path)
    for key in ("v_template", "shapedirs", "posedirs", "weights", "J"):
        raw[key] = chumpy_module(raw[key])
    blob = pickle.dumps(raw, protocol=2)
    found = _globals_of(blob)
    assert "chumpy.ch Ch" in found, f"test pickle should reference chumpy.ch Ch like the real file, has {found}"
    ops = [op.name for op, _, _ in pickletools.genops(blob)]
    assert "NEWOBJ" in ops and "BUILD" in ops, f"expected NEWOBJ + BUILD opcodes, got {sorted(set(ops))}"
    path = tmp_path / "chumpy_model.pkl"
    path.write_bytes(blob)
    # The loader must not need the chumpy module at all.
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    data = load_smpl_data(path)
    expected = load_smpl_data(synthetic_smpl.smpl_path)
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        np.testing.assert_array_equal(getattr(data, key), getattr(expected, key), err_msg=f"chumpy key {key}")


def test_python2_style_file(tmp_path: Path, synthetic_smpl: SyntheticSMPLFiles, chumpy_module: type,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The layout of the real download: Python 2 strings, numpy.core, scipy.sparse.csc, chumpy leaves with sets."""
    raw = _raw_model(synthetic_smpl.smpl_path)
    raw["shapedirs"] = chumpy_module(raw["shapedirs"])
    raw["v_template"] = chumpy_module(raw["v_template"])
    raw["pose_training_info"] = {"path": "/is/ps/shared", "n": 1786}
    blob = _py2_dumps(raw)
    found = _globals_of(blob)
    py2_globals = ("chumpy.ch Ch", "numpy.core.multiarray _reconstruct", "scipy.sparse.csc csc_matrix", "__builtin__ set")
    for name in py2_globals:
        assert name in found, f"the Python 2 style pickle should reference {name}, has {sorted(found)}"
    ops = {op.name for op, _, _ in pickletools.genops(blob)}
    assert "BINUNICODE" not in ops and "SHORT_BINSTRING" in ops, f"strings should be Python 2 str, opcodes {ops}"
    path = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    path.write_bytes(blob)
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    data = load_smpl_data(path)
    expected = load_smpl_data(synthetic_smpl.smpl_path)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "faces", "parents"):
        np.testing.assert_array_equal(getattr(data, key), getattr(expected, key), err_msg=f"Python 2 file, key {key}")


def test_derived_chumpy_expression_is_a_named_error(tmp_path: Path, synthetic_smpl: SyntheticSMPLFiles,
                                                    chumpy_module: type) -> None:
    raw = _raw_model(synthetic_smpl.smpl_path)
    derived = chumpy_module(raw["shapedirs"])
    del derived.__dict__["x"]
    raw["shapedirs"] = derived
    path = tmp_path / "derived.pkl"
    path.write_bytes(pickle.dumps(raw, protocol=2))
    with pytest.raises(SMPLFileError, match=r"shapedirs.*chumpy\.ch\.Ch.*without a stored value 'x'"):
        load_smpl_data(path)


def test_old_scipy_module_name(tmp_path: Path, synthetic_smpl: SyntheticSMPLFiles) -> None:
    blob = synthetic_smpl.smpl_path.read_bytes()
    assert b"scipy.sparse._csc\ncsc_matrix" in blob, "synthetic pickle should use the modern scipy module name"
    old = blob.replace(b"scipy.sparse._csc\ncsc_matrix", b"scipy.sparse.csc\ncsc_matrix")
    assert "scipy.sparse.csc csc_matrix" in _globals_of(old)
    path = tmp_path / "old_scipy.pkl"
    path.write_bytes(old)
    expected = load_smpl_data(synthetic_smpl.smpl_path).J_regressor
    np.testing.assert_array_equal(load_smpl_data(path).J_regressor, expected)


def test_npz_model(tmp_path: Path, synthetic_smpl: SyntheticSMPLFiles) -> None:
    raw = _raw_model(synthetic_smpl.smpl_path)
    raw["J_regressor"] = raw["J_regressor"].toarray()
    path = tmp_path / "SMPL_NEUTRAL.npz"
    np.savez(path, **raw)
    data = load_smpl_data(tmp_path)  # a folder finds SMPL_NEUTRAL.npz
    expected = load_smpl_data(synthetic_smpl.smpl_path)
    assert data.source == path, f"expected to read {path}, read {data.source}"
    np.testing.assert_array_equal(data.posedirs, expected.posedirs)
    np.testing.assert_array_equal(data.faces, expected.faces)


def test_missing_file_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"smpl\.is\.tue\.mpg\.de.*tokenmocap models install"):
        load_smpl_data(tmp_path / "SMPL_NEUTRAL.pkl")
    with pytest.raises(FileNotFoundError, match="SMPL_NEUTRAL.pkl"):
        load_smpl_data(tmp_path)


def test_missing_key_and_bad_shape_are_named(tmp_path: Path, synthetic_smpl: SyntheticSMPLFiles) -> None:
    raw = _raw_model(synthetic_smpl.smpl_path)
    no_weights = dict(raw)
    del no_weights["weights"]
    path = tmp_path / "a.pkl"
    path.write_bytes(pickle.dumps(no_weights, protocol=2))
    with pytest.raises(SMPLFileError, match=r"missing key\(s\) \['weights'\]"):
        load_smpl_data(path)
    bad = dict(raw)
    bad["posedirs"] = raw["posedirs"][:, :, :200]
    path.write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(SMPLFileError, match=r"'posedirs' should have shape \(6890, 3, 207\), found \(6890, 3, 200\)"):
        load_smpl_data(path)


def test_foreign_globals_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": __import__("collections").OrderedDict()}, protocol=2))
    with pytest.raises(SMPLFileError, match=r"refusing to unpickle global collections\.OrderedDict"):
        load_smpl_data(path)
    path.write_bytes(b"\x80\x02}q\x00X\x01")  # truncated
    with pytest.raises(SMPLFileError, match="not a readable pickle"):
        load_smpl_data(path)


def test_extra_regressor_and_mean_params(synthetic_smpl: SyntheticSMPLFiles, tmp_path: Path) -> None:
    j19 = load_joint_regressor_extra(synthetic_smpl.joint_regressor_extra_path, 6890)
    assert j19.shape == (19, 6890), f"J19 shape {j19.shape}"
    np.testing.assert_allclose(j19.sum(1), 1.0, atol=1e-12)
    with pytest.raises(SMPLFileError, match=r"expected a \(19, 100\) joint regressor"):
        load_joint_regressor_extra(synthetic_smpl.joint_regressor_extra_path, 100)
    mean = load_smpl_mean_params(synthetic_smpl.mean_params_path)
    six = mean.pose.reshape(24, 6)
    norms = np.linalg.norm(six[:, :3], axis=1)
    assert np.abs(norms - 1).max() > 1e-3, f"mean 6D should not be orthonormal, row norms {norms[:4]}"
    assert 0.8 < mean.cam[0] < 1.0, f"mean camera scale near 0.9, got {mean.cam[0]}"
    bad = tmp_path / "mean.npz"
    np.savez(bad, pose=np.zeros(144), shape=np.zeros(10))
    with pytest.raises(SMPLFileError, match="missing key 'cam'"):
        load_smpl_mean_params(bad)


def test_fixture_files_load(fixture_body_models: Path) -> None:
    data = load_smpl_data(fixture_body_models / "smpl")
    raw = _raw_model(fixture_body_models / "smpl" / "SMPL_NEUTRAL.pkl")
    np.testing.assert_array_equal(data.J_regressor, raw["J_regressor"].toarray())
    np.testing.assert_array_equal(data.faces, raw["f"].astype(np.int64))
    assert load_joint_regressor_extra(fixture_body_models / "SMPL_to_J19.pkl", data.num_vertices).shape == (19, 6890)
