from __future__ import annotations

import numpy as np
import pytest

from backend.eval.protocols import CROP_PROTOCOLS, CropProtocol, apply_crop_protocol


def test_crop50_blanks_the_lower_half_of_the_person():
    img = np.full((100, 50, 3), 200, np.uint8)
    out, box = apply_crop_protocol(img, np.array([10, 20, 40, 80]), CROP_PROTOCOLS["crop50"])
    np.testing.assert_allclose(box, [10, 20, 40, 50])
    assert out[49].min() == 200 and out[50].max() == 0, "rows from the cut line down must be black"
    assert img.min() == 200, "the input image must not be modified"


def test_full_protocol_is_identity():
    img = np.zeros((4, 4, 3), np.uint8)
    out, box = apply_crop_protocol(img, np.array([0, 0, 2, 2]), CROP_PROTOCOLS["full"])
    assert out is img and box.tolist() == [0, 0, 2, 2]


def test_bad_fraction_is_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        apply_crop_protocol(np.zeros((4, 4, 3), np.uint8), np.array([0, 0, 2, 2]), CropProtocol("x", 1.0))
