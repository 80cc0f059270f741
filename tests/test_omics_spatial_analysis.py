"""Spot classes, squidpy neighbourhood enrichment / co-occurrence, infiltration and TLS detection
on synthetic slides with planted immune patterns (Chen & Mellman 2017 phenotypes) and TLS, plus
small worked cases whose answers follow from the definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.omics.spatial import (co_occurrence, deconvolve, detect_tls, infiltration, neighbourhood_enrichment,
                                reference_profiles, simulate_reference, simulate_slide, spot_classes, tls_score)
from latc.omics.spatial._tls import robust_z, spot_area_mm2

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def reference():
    return reference_profiles(simulate_reference(np.random.default_rng(7)))


@pytest.fixture(scope="module")
def analysed(reference):
    """pattern → list of (slide, estimated proportions) for three seeds, 2 planted TLS each."""
    out = {}
    for pattern in ("infiltrated", "excluded", "desert"):
        out[pattern] = []
        for s in SEEDS:
            sl = simulate_slide(np.random.default_rng(100 + s), pattern=pattern, n_tls=2)
            out[pattern].append((sl, deconvolve(sl.adata, reference)))
    return out


def test_spot_classes_worked_example():
    p = pd.DataFrame({"tumour": [0.7, 0.6, 0.2, 0.6, 0.1], "cd8_t": [0.05, 0.15, 0.02, 0.12, 0.1],
                      "b_cell": [0.0, 0.0, 0.05, 0.25, 0.3]})
    got = spot_classes(p).astype(str).tolist()
    # immune classes take precedence (B before CD8), then tumour ≥ 0.5, else stroma
    assert got == ["tumour", "cd8_t_rich", "stroma", "b_cell_rich", "b_cell_rich"]


def test_nhood_enrichment_shows_cd8_tumour_colocalisation_only_when_infiltrated(analysed):
    """Planted: CD8 T cells scattered inside tumour nests (infiltrated) vs in a stromal band around
    them (excluded). The CD8-rich/tumour z-score is positive in every infiltrated slide and negative
    in every excluded one."""
    for pattern, sign in (("infiltrated", 1), ("excluded", -1)):
        for sl, props in analysed[pattern]:
            z = neighbourhood_enrichment(sl.adata, spot_classes(props), n_perms=200, seed=0)
            assert sign * z.loc["cd8_t_rich", "tumour"] > 2, (pattern, z.loc["cd8_t_rich", "tumour"])
            assert np.isclose(z.loc["cd8_t_rich", "tumour"], z.loc["tumour", "cd8_t_rich"])


def test_nhood_enrichment_is_seeded_and_absent_classes_are_nan(analysed):
    sl, props = analysed["desert"][0]
    c = spot_classes(props)
    z1 = neighbourhood_enrichment(sl.adata.copy(), c, n_perms=100, seed=5)
    z2 = neighbourhood_enrichment(sl.adata.copy(), c, n_perms=100, seed=5)
    pd.testing.assert_frame_equal(z1, z2)
    assert list(z1.index) == ["tumour", "cd8_t_rich", "b_cell_rich", "stroma"]
    if not (c == "cd8_t_rich").any():
        assert z1.loc["cd8_t_rich"].isna().all()
    assert np.isfinite(z1.loc["tumour", "stroma"])


def test_co_occurrence_of_cd8_near_tumour(analysed):
    for pattern, ok in (("infiltrated", lambda r: r > 1.0), ("excluded", lambda r: r < 0.5)):
        for sl, props in analysed[pattern]:
            co = co_occurrence(sl.adata, spot_classes(props), distances=(1.5, 3.0, 5.0))
            r = co.query("a == 'tumour' and b == 'cd8_t_rich' and distance == 1.5")["ratio"].iloc[0]
            assert ok(r), (pattern, r)


def test_infiltration_worked_example_on_a_line():
    """Ten spots 1 unit apart: tumour at x = 0..3, CD8 signal at x = 2 (inside) and x = 6."""
    xy = np.column_stack([np.arange(10.0), np.zeros(10)])
    p = pd.DataFrame({"tumour": [0.9] * 4 + [0.0] * 6, "cd8_t": [0, 0, 0.3, 0, 0, 0, 0.3, 0, 0, 0.0],
                      "cd4_t": 0.0, "b_cell": 0.0})
    f = infiltration(xy, p, margin_spots=1.5)
    assert f["tumour_spot_fraction"] == 0.4
    assert f["cd8_intratumoural_fraction"] == 0.25           # 1 of 4 tumour spots
    assert f["cd8_margin_fraction"] == 0.0                    # margin = x 4 (distance 1 ≤ 1.5); x 5 is 2 away
    assert f["cd8_distance_to_tumour_median"] == 1.5          # distances 0 (x=2) and 3 (x=6)
    assert f["cd8_distance_to_tumour_mean"] == 1.5
    assert f["cd8_infiltration_ratio"] == 1.0
    assert f["interface_edges"] == 1.0                        # edge 3–4 (radius 1.5 joins neighbours only)
    assert f["interface_immune_fraction"] == 0.0
    assert np.isclose(f["cd8_density_tumour"], 0.075)


def test_infiltration_distance_ordering(analysed):
    """CD8-signal spots are closer to tumour when infiltrated (planted: inside the nests) than when
    excluded (planted: band 0.5–3.5 spacings outside the nest edge); desert has (almost) none."""
    f = {k: [infiltration(sl.adata.obsm["spatial"], props) for sl, props in v] for k, v in analysed.items()}
    for fi, fe, fd in zip(f["infiltrated"], f["excluded"], f["desert"]):
        assert fi["cd8_distance_to_tumour_median"] < 0.5 < 1.0 < fe["cd8_distance_to_tumour_median"] < 3.5
        assert 0.25 <= fi["cd8_intratumoural_fraction"] <= 0.55   # planted: 40 % of nest spots
        assert fe["cd8_intratumoural_fraction"] < 0.05 and fd["cd8_intratumoural_fraction"] < 0.05
        assert fi["cd8_infiltration_ratio"] > 0.4 > 0.1 > fe["cd8_infiltration_ratio"]
        assert fd["cd8_margin_fraction"] < 0.05 < 0.3 < fe["cd8_margin_fraction"]
        assert fi["cd8_density_tumour"] > 3 * fe["cd8_density_tumour"]


def test_tls_detector_finds_planted_tls(analysed, reference):
    """Every planted TLS is found once, nothing is found outside planted TLS, in every pattern
    (the infiltrated slides have CXCL9/10/11-high tumour spots that are not TLS)."""
    for pattern, items in analysed.items():
        for sl, props in items:
            label, tab = detect_tls(sl.adata.obsm["spatial"], props, tls_score(sl.adata))
            assert label.max() == sl.summary["tls_count"] == 2, pattern
            for t in range(1, sl.summary["tls_count"] + 1):
                found = set(label[sl.tls_label == t]) - {0}
                assert len(found) == 1
            assert not ((label > 0) & (sl.tls_label == 0)).any()
            planted = np.bincount(sl.tls_label)[1:]
            assert sorted(tab["n_spots"]) == sorted(planted) or abs(tab["n_spots"].sum() - planted.sum()) <= 2
            np.testing.assert_allclose(tab["area_mm2"], tab["n_spots"] * spot_area_mm2(100.0))


def test_no_tls_on_a_slide_without_tls(reference):
    for pattern in ("infiltrated", "excluded", "desert"):
        for s in (11, 12):
            sl = simulate_slide(np.random.default_rng(s), pattern=pattern, n_tls=0)
            props = deconvolve(sl.adata, reference)
            label, tab = detect_tls(sl.adata.obsm["spatial"], props, tls_score(sl.adata))
            assert label.max() == 0 and len(tab) == 0, pattern


def test_detect_tls_worked_example():
    """A 3-spot and a 2-spot candidate cluster on a line, spacing 1: with min_spots = 3 only the
    first is a TLS; the chemokine z uses the median/MAD of the slide."""
    xy = np.column_stack([np.arange(12.0), np.zeros(12)])
    score = np.array([5, 5, 5, 0, 0, 5, 5, 0, 0.1, -0.1, 0.2, -0.2])
    p = pd.DataFrame({"b_cell": 0.3, "cd8_t": 0.1, "cd4_t": 0.1}, index=range(12))
    label, tab = detect_tls(xy, p, score, min_spots=3)
    assert label.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert tab["n_spots"].tolist() == [3]
    label2, _ = detect_tls(xy, p.assign(b_cell=0.1), score)  # no B cells → no TLS, whatever the chemokines
    assert label2.max() == 0
    np.testing.assert_allclose(robust_z([1, 2, 3, 4, 100]), (np.array([1, 2, 3, 4, 100]) - 3) / 1.4826)
