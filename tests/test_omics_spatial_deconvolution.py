"""Spatial deconvolution and the synthetic spatial writer (latc.omics.spatial).

Recovery thresholds are stated per test; the truth is the simulator's planted cell fractions
(never a number computed by the code under test). One test mixes real cells of scanpy's bundled
``pbmc68k_reduced`` into pseudo-spots (no spatial dataset ships inside an installed package:
squidpy's datasets are downloads, and ``find site-packages -name '*.h5ad'`` finds only pbmc68k).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import anndata as ad
from latc.omics import OmicsInputError
from latc.omics.spatial import (deconvolve, marker_proportions, marker_scores, reference_profiles, simulate_reference,
                                simulate_slide)
from latc.omics.spatial._synth import CELL_SIZE, CELL_TYPES, cell_type_profiles, plan_samples, write_spatial


@pytest.fixture(scope="module")
def reference():
    return reference_profiles(simulate_reference(np.random.default_rng(11)))


@pytest.fixture(scope="module")
def slides():
    return [simulate_slide(np.random.default_rng(s), pattern=p, n_tls=2)
            for s, p in ((1, "infiltrated"), (2, "excluded"), (3, "desert"))]


def _corr(a: pd.Series, b: pd.Series) -> float:
    return float(np.corrcoef(a.to_numpy(float), b.to_numpy(float))[0, 1])


def test_reference_profiles_recover_the_simulated_profiles_and_rna_content(reference):
    truth = cell_type_profiles().matrix
    for ct in CELL_TYPES:
        assert _corr(reference.profiles[ct], truth.loc[reference.profiles.index, ct]) > 0.99
    assert np.allclose(reference.profiles.sum(axis=0), 1.0)
    # RNA content relative to the mean of the planted CELL_SIZE (80 cells per type, CV 0.3 → ±10 %)
    size = pd.Series(CELL_SIZE)
    np.testing.assert_allclose(reference.rna_content[CELL_TYPES], (size / size.mean())[CELL_TYPES], rtol=0.12)


@pytest.mark.parametrize("method, min_r, max_mae", [("poisson", 0.93, 0.03), ("nnls", 0.93, 0.03)])
def test_reference_deconvolution_recovers_planted_cell_fractions(reference, slides, method, min_r, max_mae):
    """Stated accuracy on synthetic spots: per cell type Pearson r ≥ 0.93 between estimated and
    planted cell fractions over all spots of three slides, mean absolute error ≤ 0.03."""
    est = pd.concat([deconvolve(s.adata, reference, method=method) for s in slides])
    true = pd.concat([s.proportions for s in slides])
    assert np.allclose(est.sum(axis=1), 1.0)
    for ct in CELL_TYPES:
        assert _corr(est[ct], true[ct]) >= min_r, ct
    assert float((est[CELL_TYPES] - true[CELL_TYPES]).abs().mean().mean()) <= max_mae


def test_without_rna_content_correction_lymphocytes_are_underestimated(reference, slides):
    """Small lymphocytes contribute less RNA than cells: RNA shares understate their cell fraction."""
    s = slides[0]
    cells = deconvolve(s.adata, reference)
    rna = deconvolve(s.adata, reference, cell_fractions=False)
    assert rna["cd8_t"].mean() < cells["cd8_t"].mean()
    assert rna["tumour"].mean() > cells["tumour"].mean()
    assert abs(cells["cd8_t"].mean() - s.proportions["cd8_t"].mean()) < abs(rna["cd8_t"].mean() - s.proportions["cd8_t"].mean())


def test_marker_based_proportions_track_planted_fractions(slides):
    """Marker-only estimates are semi-quantitative: stated r ≥ 0.8 per type."""
    est = pd.concat([marker_proportions(s.adata) for s in slides])
    true = pd.concat([s.proportions for s in slides])
    for ct in CELL_TYPES:
        assert _corr(est[ct], true[ct]) >= 0.8, ct
    scores = marker_scores(slides[0].adata)
    assert _corr(scores["tumour"], slides[0].proportions["tumour"]) > 0.85


def test_deconvolution_on_real_pbmc_cells_mixed_into_pseudo_spots():
    """Real data (scanpy's bundled pbmc68k_reduced, 700 PBMCs): profiles from half the cells,
    300 pseudo-spots of 10 cells from the other half with Dirichlet(1) proportions; stated
    recovery r ≥ 0.85 for T, B, NK, monocytes and dendritic cells."""
    import scanpy as sc

    a = sc.datasets.pbmc68k_reduced()
    grp = {"CD14+ Monocyte": "monocyte", "CD19+ B": "b", "CD56+ NK": "nk", "Dendritic": "dendritic"}
    lab = a.obs["bulk_labels"].astype(str).map(lambda s: grp.get(s, "t" if ("CD4" in s or "CD8" in s) else None))
    keep = lab.notna().to_numpy()
    x = np.expm1(a.raw.X.toarray() if hasattr(a.raw.X, "toarray") else np.asarray(a.raw.X))[keep]
    lab = lab[keep].to_numpy()
    rng = np.random.default_rng(0)
    half = rng.random(len(lab)) < 0.5
    var = pd.DataFrame(index=a.raw.var_names.astype(str))
    ref = reference_profiles(ad.AnnData(x[half], obs=pd.DataFrame({"cell_type": lab[half]}, index=np.flatnonzero(half).astype(str)), var=var))
    types = list(ref.profiles.columns)
    pools = {k: np.flatnonzero(~half & (lab == k)) for k in types}
    n_spots, cells = 300, 10
    counts = np.vstack([rng.multinomial(cells, p) for p in rng.dirichlet(np.ones(len(types)), n_spots)])
    spots = np.vstack([sum(x[rng.choice(pools[t], n)].sum(axis=0) for t, n in zip(types, row)) for row in counts])
    est = deconvolve(ad.AnnData(spots, var=var), ref)
    for k, t in enumerate(types):
        assert np.corrcoef(est[t], counts[:, k] / cells)[0, 1] >= 0.85, t


def test_reference_errors_name_the_problem():
    a = simulate_reference(np.random.default_rng(1), n_per_type=3)
    with pytest.raises(OmicsInputError, match="obs\\['label'\\]"):
        reference_profiles(a, "label")
    with pytest.raises(OmicsInputError, match="fewer than 2 cell types"):
        reference_profiles(a, min_cells=5)
    ref = reference_profiles(simulate_reference(np.random.default_rng(1)))
    spots = ad.AnnData(np.ones((4, 3), dtype=np.float32), var=pd.DataFrame(index=["GAPDH", "ACTB", "XIST"]))
    with pytest.raises(OmicsInputError, match="informative genes"):
        deconvolve(spots, ref)
    with pytest.raises(OmicsInputError, match="none of the markers"):
        marker_scores(spots)


def test_simulator_is_deterministic_and_plants_the_documented_patterns():
    a = simulate_slide(np.random.default_rng(5), pattern="excluded", n_tls=2, n_side=24)
    b = simulate_slide(np.random.default_rng(5), pattern="excluded", n_tls=2, n_side=24)
    np.testing.assert_array_equal(a.adata.X, b.adata.X)
    assert a.adata.n_obs == 576 and a.adata.obsm["spatial"].shape == (576, 2)
    # excluded: (almost) no CD8 T cells inside the tumour nests; infiltrated: many
    assert a.proportions.loc[a.tumour_region, "cd8_t"].mean() < 0.02
    c = simulate_slide(np.random.default_rng(5), pattern="infiltrated", n_tls=0, n_side=24)
    assert c.proportions.loc[c.tumour_region, "cd8_t"].mean() > 0.05
    assert c.summary["tls_count"] == 0 and c.tls_label.max() == 0
    assert a.summary["tls_count"] == a.tls_label.max() == 2
    with pytest.raises(ValueError, match="pattern"):
        simulate_slide(np.random.default_rng(5), pattern="cold", n_tls=0)


def test_plan_ties_patterns_and_tls_to_response_at_surgery_only():
    n = 400
    pid = [f"C01-{i:04d}" for i in range(n)]
    latent = pd.DataFrame({"patient_id": pid, "cohort": "neoadjuvant", "objective_response_latent": np.arange(n) % 2 == 0})
    tp = np.where(np.arange(n) < n // 2, "surgery", "baseline")
    samples = pd.DataFrame({"sample_id": [f"{p}-X_TU_SP" for p in pid], "patient_id": pid, "center_id": "C01",
                            "timepoint": tp, "tissue": "tumour"})
    plan = plan_samples(samples, latent, seed=3)
    g = plan.assign(inf=plan["pattern"] == "infiltrated").groupby(["timepoint", "responder"])
    inf, tls = g["inf"].mean(), g["n_tls_planned"].mean()
    assert inf[("surgery", True)] - inf[("surgery", False)] > 0.4        # planted 0.80 vs 0.20
    assert tls[("surgery", True)] - tls[("surgery", False)] > 2.0        # planted 3.0 vs 0.4
    assert abs(inf[("baseline", True)] - inf[("baseline", False)]) < 0.15  # null at baseline
    null = plan_samples(samples, latent, seed=3, effect=0.0)
    gn = null.assign(inf=null["pattern"] == "infiltrated").groupby(["timepoint", "responder"])["inf"].mean()
    assert abs(gn[("surgery", True)] - gn[("surgery", False)]) < 0.15


def test_registry_writer_writes_every_file_ref_and_returns_truth(tmp_path):
    from latc.synth.omics_registry import omics_writer

    assert omics_writer("spatial") is write_spatial
    pid = ["C01-0001", "C01-0002", "C01-0003"]
    latent = pd.DataFrame({"patient_id": pid, "cohort": ["neoadjuvant", "neoadjuvant", "upfront_surgery"],
                           "objective_response_latent": [True, False, False]})
    sids = [f"{p}-SX_TU_SP" for p in pid]
    manifest = pd.DataFrame({"sample_id": sids, "patient_id": pid, "center_id": "C01", "timepoint": "surgery",
                             "tissue": "tumour", "assay": "spatial", "file_ref": [f"omics/spatial/{s}.h5ad" for s in sids]})
    truth = write_spatial(manifest, latent, {}, tmp_path, seed=1, scale=0.2)
    for s in sids:
        a = ad.read_h5ad(tmp_path / "omics" / "spatial" / f"{s}.h5ad")
        assert a.obs["sample_id"].unique().tolist() == [s] and "spatial" in a.obsm
        assert truth["samples"][s]["n_spots"] == a.n_obs
    assert (tmp_path / truth["reference_file"]).exists()
    assert truth["samples"][sids[0]]["responder"] is True and truth["samples"][sids[2]]["responder"] is None
    assert set(truth["samples"][sids[0]]) >= {"pattern", "tls_count", "mean_proportions", "cd8_fraction_in_tumour"}
