"""Bone-map presets, JSON save/load with validation errors naming the bad entry, resolution and auto-mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blender_addon.core import SMPL_JOINT_NAMES
from blender_addon.retarget import (
    BoneChain,
    BoneMap,
    BoneMapError,
    auto_map,
    bone_map_from_dict,
    bone_map_to_dict,
    list_presets,
    load_bone_map,
    load_preset,
    resolve_bone_map,
    save_bone_map,
)

EXPECTED_PRESETS = {"mixamo", "mixamo_bare", "rigify_deform", "rigify_fk", "ue4_mannequin", "ue5_mannequin",
                    "metahuman_body"}
LIMBS = [f"{s}_{j}" for s in ("left", "right") for j in
         ("collar", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "foot")]


def test_every_preset_loads_and_maps_the_body():
    presets = list_presets()
    assert EXPECTED_PRESETS <= set(presets), f"missing presets: {EXPECTED_PRESETS - set(presets)}"
    for preset_id in EXPECTED_PRESETS:
        bone_map = load_preset(preset_id)
        joints = set(bone_map.source_joints())
        missing = {"pelvis", "spine1", "spine2", "spine3", "neck", "head", *LIMBS} - joints
        assert not missing, f"{preset_id}: SMPL joints not mapped: {sorted(missing)}"
        targets = bone_map.target_bones()
        assert len(targets) == len(set(targets)), f"{preset_id}: a target bone is used twice"
    ue5 = load_preset("ue5_mannequin")
    assert ue5.chains[0] == BoneChain(("spine1", "spine2", "spine3"),
                                      ("spine_01", "spine_02", "spine_03", "spine_04", "spine_05"))
    assert load_preset("mixamo").bones["left_shoulder"] == "mixamorig:LeftArm"
    assert load_preset("mixamo_bare").bones["left_collar"] == "LeftShoulder"
    assert load_preset("rigify_fk").bones["left_elbow"] == "forearm_fk.L"
    assert load_preset("rigify_deform").bones["right_knee"] == "DEF-shin.R"
    assert load_preset("ue4_mannequin").bones["spine3"] == "spine_03"
    with pytest.raises(BoneMapError, match="unknown bone-map preset 'maya'"):
        load_preset("maya")


def test_save_load_round_trip(tmp_path):
    bone_map = BoneMap(name="my rig", bones={"pelvis": "Hip", "left_hip": "Thigh.L"}, description="x",
                       chains=(BoneChain(("spine1", "spine2"), ("S1", "S2", "S3")),), root_bone="Root")
    path = save_bone_map(bone_map, tmp_path / "map.json")
    loaded = load_bone_map(path)
    assert loaded == bone_map, f"round trip changed the map: {loaded}"
    assert json.loads(path.read_text())["format"] == "tokenmocap.bone_map"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["bones"].update({"left_hipp": "x"}), r"bones\['left_hipp'\]: unknown SMPL joint 'left_hipp' "
                                                      r"\(did you mean left_hip"),
    (lambda d: d["bones"].update({"left_knee": ""}), r"bones\['left_knee'\]: expected a non-empty bone name"),
    (lambda d: d["bones"].update({"left_knee": "Hip"}), r"bones\['left_knee'\]: target bone 'Hip' is already "
                                                        r"driven by bones\['pelvis'\]"),
    (lambda d: d.update(chains=[{"source": ["spine1", "spine3"], "target": ["a"]}]),
     r"chains\[0\]\.source: 'spine3' is not the child of 'spine1'"),
    (lambda d: d.update(chains=[{"source": ["pelvis"], "target": ["a"]}]),
     r"chains\[0\]: SMPL joint 'pelvis' is already mapped by bones\['pelvis'\]"),
    (lambda d: d.update(version=7), r"'version' must be 1, got 7"),
    (lambda d: d.update(format="rokoko"), r"'format' must be 'tokenmocap.bone_map'"),
    (lambda d: d.update(extra=1), r"unknown keys \['extra'\]"),
    (lambda d: d.update(root_bone="Hip"), r"root_bone 'Hip' is also driven by bones\['pelvis'\]"),
])
def test_validation_errors_name_the_entry(tmp_path, edit, message):
    data = {"format": "tokenmocap.bone_map", "version": 1, "name": "m", "bones": {"pelvis": "Hip"}}
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BoneMapError, match=message) as info:
        load_bone_map(path)
    assert str(path) in str(info.value), f"the error must name the file: {info.value}"


def test_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": ')
    with pytest.raises(BoneMapError, match=r"broken.json: not valid JSON \(line 1"):
        load_bone_map(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_bone_map(tmp_path / "nope.json")
    with pytest.raises(BoneMapError, match="expected a JSON object"):
        bone_map_from_dict([1, 2])


def test_resolve_tolerates_namespaces_and_checks_chain_order():
    names = ["mixamorig1:Hips", "mixamorig1:Spine", "mixamorig1:Spine1"]
    parents = [-1, 0, 1]
    bone_map = BoneMap(name="m", bones={"pelvis": "mixamorig:Hips"},
                       chains=(BoneChain(("spine1",), ("Spine", "Spine1")),))
    resolved = resolve_bone_map(bone_map, names, parents)
    assert resolved.bones["pelvis"] == "mixamorig1:Hips"
    assert resolved.chains[0].target == ("mixamorig1:Spine", "mixamorig1:Spine1")
    reversed_chain = BoneMap(name="m", bones={}, chains=(BoneChain(("spine1",), ("Spine1", "Spine")),))
    with pytest.raises(BoneMapError, match=r"chains\[0\]\.target: 'mixamorig1:Spine' is not below"):
        resolve_bone_map(reversed_chain, names, parents)
    with pytest.raises(BoneMapError, match=r"bones\['pelvis'\]: bone 'Pelvis' not found .* closest names: "):
        resolve_bone_map(BoneMap(name="m", bones={"pelvis": "Pelvis"}), ["pelvis_x", "Pelvis.001"], [-1, 0])


def _rig(spec: list[tuple[str, str | None, tuple[float, float, float]]]):
    names = [s[0] for s in spec]
    parents = [names.index(s[1]) if s[1] else -1 for s in spec]
    return names, parents, np.array([s[2] for s in spec], dtype=float)


def ue5_spec() -> list:
    spec = [("root", None, (0, 0, 0)), ("pelvis", "root", (0, 0, 1)), ("spine_01", "pelvis", (0, 0, 1.1))]
    for k in range(2, 6):
        spec.append((f"spine_0{k}", f"spine_0{k - 1}", (0, 0, 1.0 + 0.1 * k)))
    spec += [("neck_01", "spine_05", (0, 0, 1.6)), ("neck_02", "neck_01", (0, 0, 1.65)), ("head", "neck_02",
                                                                                           (0, 0, 1.7))]
    for s, x in (("l", 1), ("r", -1)):
        spec += [(f"clavicle_{s}", "spine_05", (0.05 * x, 0, 1.5)),
                 (f"upperarm_{s}", f"clavicle_{s}", (0.2 * x, 0, 1.5)),
                 (f"upperarm_twist_01_{s}", f"upperarm_{s}", (0.3 * x, 0, 1.5)),
                 (f"lowerarm_{s}", f"upperarm_{s}", (0.45 * x, 0, 1.5)),
                 (f"hand_{s}", f"lowerarm_{s}", (0.7 * x, 0, 1.5)),
                 (f"thigh_{s}", "pelvis", (0.1 * x, 0, 0.95)), (f"calf_{s}", f"thigh_{s}", (0.1 * x, 0, 0.5)),
                 (f"foot_{s}", f"calf_{s}", (0.1 * x, 0, 0.1)), (f"ball_{s}", f"foot_{s}", (0.1 * x, -0.1, 0.0))]
    return spec


def test_auto_map_recognises_presets_and_prefers_the_most_specific():
    names, parents, heads = _rig(ue5_spec())
    result = auto_map(names, parents, heads)
    assert result.preset_id == "ue5_mannequin", f"a UE5 rig also fits UE4; expected ue5, got {result.preset_id}"
    assert all(c == 1.0 for c in result.bone_map.confidence.values())
    assert set(result.unmapped) == {"left_hand", "right_hand"}, f"unmapped: {result.unmapped}"
    names, parents, heads = _rig(ue5_spec() + [("upperarm_correctiveRoot_l", "upperarm_l", (0.2, 0, 1.5))])
    result = auto_map(names, parents, heads)
    assert result.preset_id == "metahuman_body", f"MetaHuman corrective bones decide the tie, got {result.preset_id}"
    mixamo = [("mixamorig:" + n, ("mixamorig:" + p) if p else None, h) for n, p, h in [
        ("Hips", None, (0, 0, 1)), ("Spine", "Hips", (0, 0, 1.1)), ("Spine1", "Spine", (0, 0, 1.2)),
        ("Spine2", "Spine1", (0, 0, 1.3)), ("Neck", "Spine2", (0, 0, 1.5)), ("Head", "Neck", (0, 0, 1.6))]]
    for side, x in (("Left", 1), ("Right", -1)):
        chain = [("Shoulder", "Spine2"), ("Arm", "Shoulder"), ("ForeArm", "Arm"), ("Hand", "ForeArm")]
        mixamo += [(f"mixamorig:{side}{n}", f"mixamorig:{side}{p}" if p != "Spine2" else "mixamorig:Spine2",
                    (x * 0.1 * (k + 1), 0, 1.4)) for k, (n, p) in enumerate(chain)]
        legs = [("UpLeg", "Hips"), ("Leg", "UpLeg"), ("Foot", "Leg"), ("ToeBase", "Foot")]
        mixamo += [(f"mixamorig:{side}{n}", f"mixamorig:{side}{p}" if p != "Hips" else "mixamorig:Hips",
                    (x * 0.1, 0, 0.9 - 0.3 * k)) for k, (n, p) in enumerate(legs)]
    result = auto_map(*_rig(mixamo))
    assert result.preset_id == "mixamo", f"expected the prefixed Mixamo preset, got {result.preset_id}"


def test_auto_map_custom_names_by_tokens_side_and_hierarchy():
    spec = [("Root", None, (0, 0, 0)), ("Hips", "Root", (0, 0, 1.0)), ("Abdomen", "Hips", (0, 0, 1.1)),
            ("Chest", "Abdomen", (0, 0, 1.3)), ("Neck", "Chest", (0, 0, 1.5)), ("Head", "Neck", (0, 0, 1.6)),
            ("HeadEnd", "Head", (0, 0, 1.8))]
    for side, x in (("L", 1), ("R", -1)):
        spec += [(f"Collarbone.{side}", "Chest", (0.05 * x, 0, 1.45)),
                 (f"UpperArm.{side}", f"Collarbone.{side}", (0.2 * x, 0, 1.45)),
                 (f"UpperArm_Twist.{side}", f"UpperArm.{side}", (0.3 * x, 0, 1.45)),
                 (f"LowerArm.{side}", f"UpperArm.{side}", (0.45 * x, 0, 1.45)),
                 (f"Wrist.{side}", f"LowerArm.{side}", (0.7 * x, 0, 1.45)),
                 (f"Index1.{side}", f"Wrist.{side}", (0.8 * x, 0, 1.45)),
                 (f"UpperLeg.{side}", "Hips", (0.1 * x, 0, 0.95)),
                 (f"Knee.{side}", f"UpperLeg.{side}", (0.1 * x, 0, 0.5)),
                 # No side in the name: the side comes from the rest position (+X is the character's left).
                 (f"Ankle{'A' if x > 0 else 'B'}", f"Knee.{side}", (0.1 * x, 0, 0.1)),
                 (f"Ball{'A' if x > 0 else 'B'}", f"Ankle{'A' if x > 0 else 'B'}", (0.1 * x, -0.1, 0.0))]
    result = auto_map(*_rig(spec))
    bones, conf = result.bone_map.bones, result.bone_map.confidence
    assert result.preset_id is None
    want = {"pelvis": "Hips", "head": "Head", "left_collar": "Collarbone.L", "left_shoulder": "UpperArm.L",
            "left_elbow": "LowerArm.L", "left_wrist": "Wrist.L", "left_hip": "UpperLeg.L", "left_knee": "Knee.L",
            "left_ankle": "AnkleA", "right_ankle": "AnkleB", "right_foot": "BallB", "right_wrist": "Wrist.R"}
    wrong = {j: (bones.get(j), b) for j, b in want.items() if bones.get(j) != b}
    assert not wrong, f"auto-map got (found, expected): {wrong}"
    assert result.bone_map.chains[0].target == ("Abdomen", "Chest"), f"spine chain {result.bone_map.chains}"
    assert conf["left_wrist"] == pytest.approx(0.9) and conf["left_ankle"] == pytest.approx(0.7), \
        f"confidence: named side 0.9, side from geometry 0.7; got {conf['left_wrist']}, {conf['left_ankle']}"
    assert "UpperArm_Twist.L" not in bones.values() and "Index1.L" not in bones.values()
    assert set(result.unmapped) == {"left_hand", "right_hand"}
    with pytest.raises(BoneMapError, match="no hips/pelvis bone found"):
        auto_map(["a", "b"], [-1, 0], np.zeros((2, 3)))


def test_auto_map_falls_back_to_hierarchy_with_low_confidence():
    spec = [("pelvis", None, (0, 0, 1.0)), ("thigh.L", "pelvis", (0.1, 0, 0.9)), ("bone7", "thigh.L", (0.1, 0, 0.5)),
            ("bone8", "bone7", (0.1, 0, 0.1))]
    result = auto_map(*_rig(spec))
    assert result.bone_map.bones.get("left_knee") == "bone7", f"got {result.bone_map.bones}"
    assert result.bone_map.confidence["left_knee"] == pytest.approx(0.4)
    assert SMPL_JOINT_NAMES.index("left_knee") >= 0


def test_dict_round_trip_is_json_serialisable():
    for preset_id in EXPECTED_PRESETS:
        bone_map = load_preset(preset_id)
        again = bone_map_from_dict(json.loads(json.dumps(bone_map_to_dict(bone_map))), origin=preset_id)
        assert again == bone_map, f"{preset_id}: dict round trip differs"


def test_auto_map_of_an_smpl_named_rig_is_the_identity():
    from blender_addon.core import SMPL_PARENTS

    heads = np.array([[0.1 * (j % 5), 0.0, 1.0 - 0.04 * j] for j in range(24)])
    heads[[1, 4, 7, 10, 13, 16, 18, 20, 22], 0] = 0.3  # left joints on +X
    heads[[2, 5, 8, 11, 14, 17, 19, 21, 23], 0] = -0.3
    result = auto_map(SMPL_JOINT_NAMES, SMPL_PARENTS, heads)
    got = dict(result.bone_map.bones)
    for chain in result.bone_map.chains:
        got.update(zip(chain.source, chain.target))
    wrong = {j: b for j, b in got.items() if j != b}
    assert not wrong, f"SMPL names must map to themselves, got {wrong}"
    assert set(got) == set(SMPL_JOINT_NAMES) - {"left_hand", "right_hand"}, f"mapped {sorted(got)}"
