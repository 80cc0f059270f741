"""Ultrasonomics: 2D morphology on known geometry, IBSI definitions on trivial ROIs, parameters
recorded, and clear errors for unusable inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from latc.omics import OmicsInputError
from latc.omics.imaging import RadiomicsSettings, extract_radiomics, load_ultrasound, mirp_features, morphology_2d

YY, XX = np.mgrid[0:200, 0:200]


def disc(r, cy=100, cx=100):
    return ((YY - cy) ** 2 + (XX - cx) ** 2) <= r ** 2


@pytest.mark.parametrize("r,spacing", [(30, 0.2), (60, 0.1), (80, 0.5)])
def test_disc_area_perimeter_circularity(r, spacing):
    f = morphology_2d(disc(r), spacing)
    R = r * spacing
    assert f["morph_area_mm2"] == pytest.approx(np.pi * R ** 2, rel=0.01)
    assert f["morph_area_pixels_mm2"] == pytest.approx(np.pi * R ** 2, rel=0.01)
    assert f["morph_perimeter_mm"] == pytest.approx(2 * np.pi * R, rel=0.015)
    assert f["morph_circularity"] == pytest.approx(1.0, abs=0.03)
    assert f["morph_max_diameter_mm"] == pytest.approx(2 * R, rel=0.03)
    # IBSI 3.1.17-18: PCA axis length 4*sqrt(lambda); a uniform disc has variance R^2/4 -> 2R
    assert f["morph_major_axis_mm"] == pytest.approx(2 * R, rel=0.02)
    assert f["morph_elongation"] == pytest.approx(1.0, abs=0.01)
    assert f["morph_n_components"] == 1


def test_ellipse_axes_and_irregular_margin_lowers_circularity():
    a, b = 70, 35
    ell = ((YY - 100) / b) ** 2 + ((XX - 100) / a) ** 2 <= 1
    f = morphology_2d(ell, 1.0)
    assert f["morph_major_axis_mm"] == pytest.approx(2 * a, rel=0.02)
    assert f["morph_minor_axis_mm"] == pytest.approx(2 * b, rel=0.02)
    assert f["morph_elongation"] == pytest.approx(b / a, rel=0.02)
    theta = np.arctan2(YY - 100, XX - 100)
    spiky = np.hypot(YY - 100, XX - 100) <= 60 * (1 + 0.25 * np.cos(9 * theta))
    g = morphology_2d(spiky, 1.0)
    assert g["morph_circularity"] < 0.8 < morphology_2d(disc(60), 1.0)["morph_circularity"]
    assert g["morph_area_density_convex_hull"] < 0.95


def test_constant_region_has_zero_dispersion_and_entropy():
    """IBSI 2020 §3.3/3.4/3.6: a single grey level → variance 0, histogram entropy 0, joint entropy 0."""
    img = np.full((120, 120), 77.0)
    f = mirp_features(img, disc(40, 60, 60)[:120, :120], RadiomicsSettings())
    assert f["stat_mean"] == pytest.approx(77.0)
    assert f["stat_var"] == pytest.approx(0.0, abs=1e-12)
    assert f["ih_entropy_fbn_n32"] == pytest.approx(0.0, abs=1e-12)
    assert f["cm_joint_entr_d1_2d_s_mrg_fbn_n32"] == pytest.approx(0.0, abs=1e-12)
    assert f["cm_contrast_d1_2d_s_mrg_fbn_n32"] == pytest.approx(0.0, abs=1e-12)


def test_two_level_region_matches_hand_computation():
    """Half the ROI at 10, half at 50: mean 30, population variance 400 (IBSI §3.3.2), and with
    2 fixed bins a 1-bit histogram entropy (IBSI §3.4.18, log2)."""
    img = np.where(XX[:120, :120] < 60, 10.0, 50.0)
    mask = np.zeros((120, 120), bool)
    mask[20:100, 20:100] = True
    f = mirp_features(img, mask, RadiomicsSettings(n_bins=2))
    assert f["stat_mean"] == pytest.approx(30.0)
    assert f["stat_var"] == pytest.approx(400.0)
    assert f["ih_entropy_fbn_n2"] == pytest.approx(1.0, abs=1e-9)
    assert f["ih_uniformity_fbn_n2"] == pytest.approx(0.5, abs=1e-9)


def _write_case(tmp_path, sid="C01-0001-BL_TU_US", mask=True, spacing=0.2, img=None, m=None):
    rng = np.random.default_rng(3)
    img = rng.rayleigh(40, (128, 128)).clip(0, 255).astype(np.uint8) if img is None else img
    p = tmp_path / f"{sid}.png"
    Image.fromarray(img).save(p, dpi=(25.4 / spacing, 25.4 / spacing))
    if mask:
        m = disc(30, 64, 64)[:128, :128] if m is None else m
        Image.fromarray((m * 255).astype(np.uint8)).save(tmp_path / f"{sid}_mask.png")
    return p


def _samples(paths):
    return pd.DataFrame([{"sample_id": p.stem, "patient_id": p.stem[:7], "center_id": "C01", "timepoint": "baseline",
                          "tissue": "tumour", "path": p} for p in paths])


def test_extract_records_parameters_and_spacing(tmp_path):
    p = _write_case(tmp_path)
    us = load_ultrasound("C01-0001-BL_TU_US", p)
    assert us.spacing_mm == pytest.approx(0.2, rel=1e-3)
    s = RadiomicsSettings(discretisation="fixed_bin_size", bin_width=16.0)
    t = extract_radiomics(_samples([p]), s)
    assert t.loc[0, "spacing_source"] == "file"
    assert t.loc[0, "morph_area_mm2"] == pytest.approx(np.pi * (30 * 0.2) ** 2, rel=0.02)
    assert any(c.endswith("_fbs_w16.0") for c in t.columns)
    params = t.attrs["parameters"]
    assert params["discretisation"] == "fixed_bin_size" and params["bin_width"] == 16.0
    assert params["intensity_range"] == [0.0, 255.0] and params["software"]["mirp"]
    json.dumps(params)  # JSON-ready
    t2 = extract_radiomics(_samples([p]), RadiomicsSettings(n_bins=16))
    assert "cm_contrast_d1_2d_s_mrg_fbn_n16" in t2.columns and t2.attrs["parameters"]["n_bins"] == 16


def test_file_without_spacing_uses_and_flags_default(tmp_path):
    img = np.random.default_rng(0).rayleigh(40, (64, 64)).clip(0, 255).astype(np.uint8)
    p = tmp_path / "C01-0002-BL_TU_US.png"
    Image.fromarray(img).save(p)
    np.save(tmp_path / "C01-0002-BL_TU_US_mask.npy", disc(20, 32, 32)[:64, :64])
    t = extract_radiomics(_samples([p]), RadiomicsSettings(default_spacing_mm=0.3))
    assert t.loc[0, "spacing_source"] == "assumed" and t.loc[0, "spacing_mm"] == 0.3


def test_image_without_mask_names_the_sample(tmp_path):
    p = _write_case(tmp_path, sid="C02-0007-OT_TU_US", mask=False)
    with pytest.raises(OmicsInputError, match="C02-0007-OT_TU_US.*no lesion mask"):
        extract_radiomics(_samples([p]))


def test_unreadable_image_names_the_sample(tmp_path):
    p = tmp_path / "C02-0008-BL_TU_US.png"
    p.write_bytes(b"this is not a png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "C02-0008-BL_TU_US_mask.png")
    with pytest.raises(OmicsInputError, match="C02-0008-BL_TU_US.*cannot read"):
        extract_radiomics(_samples([p]))


def test_mask_shape_mismatch_and_empty_mask(tmp_path):
    p = _write_case(tmp_path, sid="C02-0009-BL_TU_US", m=np.ones((100, 100), bool))
    with pytest.raises(OmicsInputError, match="C02-0009-BL_TU_US.*shape"):
        load_ultrasound("C02-0009-BL_TU_US", p)
    q = _write_case(tmp_path, sid="C02-0010-BL_TU_US", m=np.zeros((128, 128), bool))
    with pytest.raises(OmicsInputError, match="C02-0010-BL_TU_US.*empty"):
        load_ultrasound("C02-0010-BL_TU_US", q)


def test_settings_reject_unknown_discretisation():
    with pytest.raises(ValueError, match="discretisation"):
        RadiomicsSettings(discretisation="quantiles")
