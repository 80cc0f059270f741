"""H&E features on synthetic tiles with planted stain densities, nuclei and lymphocytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from skimage.filters import gaussian

from latc.omics import OmicsInputError
from latc.omics.imaging import (HistologySettings, haematoxylin_eosin, histology_features, histology_tiles, macenko_normalise,
                                macenko_stain_matrix, tile_features, tile_qc)
from latc.omics.imaging._histology import RUIFROK_HE
from latc.omics.imaging._synth import render_he_tile


@pytest.fixture(scope="module")
def tiles():
    rng = np.random.default_rng(11)
    return [render_he_tile(rng, nt, nl) for nt, nl in [(110, 8), (100, 40), (80, 120), (40, 250)]]


def test_colour_deconvolution_recovers_planted_densities(tiles):
    """Ruifrok & Johnston 2001 via skimage rgb2hed inverts hed2rgb up to 8-bit quantisation."""
    for t in tiles[:2]:
        h, e = haematoxylin_eosin(t["rgb"])
        assert np.abs(h - t["h"]).max() < 0.005
        assert np.abs(e - t["e"]).max() < 0.005
        nuc = t["h"] > 0.04
        assert h[nuc].mean() == pytest.approx(t["h"][nuc].mean(), abs=0.002)


def _cos(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_macenko_estimates_the_rendering_stain_vectors(tiles):
    he = macenko_stain_matrix(tiles[2]["rgb"])
    assert _cos(he[0], RUIFROK_HE[0]) > 0.99
    assert _cos(he[1], RUIFROK_HE[1]) > 0.98


def test_macenko_normalisation_undoes_a_stain_shift(tiles):
    """A tile stained with a bluer haematoxylin and a redder eosin: after Macenko normalisation to
    the Ruifrok vectors, the haematoxylin map is closer to the planted one than before."""
    t = tiles[1]
    shifted = np.array([[0.55, 0.70, 0.45], [0.20, 0.95, 0.08], [0.27, 0.57, 0.78]])
    shifted[:2] /= np.linalg.norm(shifted[:2], axis=1, keepdims=True)
    hed = np.stack([t["h"], t["e"], np.zeros_like(t["h"])], axis=-1)
    # Beer-Lambert rendering as skimage hed2rgb does, but with the shifted stain vectors
    rgb = np.clip(np.rint(np.exp(-(hed * -np.log(1e-6)) @ shifted) * 255), 0, 255).astype(np.uint8)
    h_raw, _ = haematoxylin_eosin(rgb)
    h_norm, _ = haematoxylin_eosin(macenko_normalise(rgb))
    err_raw = np.abs(h_raw - t["h"]).mean()
    err_norm = np.abs(h_norm - t["h"]).mean()
    assert err_norm < 0.5 * err_raw


def test_nuclei_counts_within_ten_percent_of_planted(tiles):
    for t in tiles:
        f = tile_features(t["rgb"], 0.5)
        planted = t["n_tumour"] + t["n_lymphocytes"]
        assert abs(f["n_nuclei"] - planted) <= 0.10 * planted, (f["n_nuclei"], planted)


def test_til_estimate_follows_planted_density(tiles):
    found = [tile_features(t["rgb"], 0.5)["n_til"] for t in tiles]
    planted = [t["n_lymphocytes"] for t in tiles]
    assert found == sorted(found) and len(set(found)) == len(found)
    for f, p in zip(found, planted):
        if p >= 30:
            assert abs(f - p) <= 0.10 * p, (f, p)
    dens = [tile_features(t["rgb"], 0.5)["til_density_per_mm2"] for t in tiles[::3]]
    tile_mm2 = (512 * 0.5 / 1000) ** 2
    assert dens[1] == pytest.approx(found[3] / tile_mm2)  # all tissue, no background in these tiles


def test_tile_qc_flags_background_and_blur(tiles):
    assert tile_qc(tiles[0]["rgb"])["qc_pass"]
    blank = np.full((256, 256, 3), 245, np.uint8)
    q = tile_qc(blank)
    assert q["background_fraction"] == 1.0 and not q["qc_pass"]
    blurred = np.clip(gaussian(tiles[0]["rgb"], sigma=4, channel_axis=-1, preserve_range=True), 0, 255).astype(np.uint8)
    qb = tile_qc(blurred)
    assert qb["focus"] < HistologySettings().min_focus < tile_qc(tiles[0]["rgb"])["focus"]
    assert not qb["qc_pass"]


def test_sample_features_from_a_multipage_tiff(tmp_path, tiles):
    blank = np.full((512, 512, 3), 250, np.uint8)
    p = tmp_path / "C01-0003-SX_TU_HE.tif"
    tifffile.imwrite(p, np.stack([tiles[0]["rgb"], tiles[3]["rgb"], blank]), photometric="rgb",
                     resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER")
    s = pd.DataFrame([{"sample_id": "C01-0003-SX_TU_HE", "patient_id": "C01-0003", "center_id": "C01",
                       "timepoint": "surgery", "tissue": "tumour", "path": p}])
    f = histology_features(s)
    r = f.iloc[0]
    assert not any(isinstance(v, pd.DataFrame) for v in f.attrs.values())
    assert r.microns_per_pixel == pytest.approx(0.5) and r.mpp_source == "file"
    assert r.n_tiles == 3 and r.n_tiles_qc_pass == 2
    tiles_tab = histology_tiles(s)
    ok = tiles_tab[tiles_tab.qc_pass]
    assert r.n_til == ok.n_til.sum() and r.til_density_per_mm2 == pytest.approx(ok.n_til.sum() / ok.tissue_area_mm2.sum())
    assert f.attrs["parameters"]["til_min_circularity"] == HistologySettings().til_min_circularity


def test_unreadable_or_non_rgb_slide_names_the_sample(tmp_path):
    p = tmp_path / "C01-0004-SX_TU_HE.tif"
    p.write_bytes(b"garbage")
    s = pd.DataFrame([{"sample_id": "C01-0004-SX_TU_HE", "patient_id": "C01-0004", "center_id": "C01",
                       "timepoint": "surgery", "tissue": "tumour", "path": p}])
    with pytest.raises(OmicsInputError, match="C01-0004-SX_TU_HE.*cannot read"):
        histology_features(s)
    tifffile.imwrite(p, np.zeros((64, 64), np.uint8))
    with pytest.raises(OmicsInputError, match="C01-0004-SX_TU_HE.*not an RGB"):
        histology_features(s)
